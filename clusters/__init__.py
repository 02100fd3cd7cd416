"""Declarative target definitions (pins, kernelspecs, launchers, hub config), shipped as data.

Nothing here is imported by the harness: the files run inside the components' own
environments. The package exists so that a wheel carries them (see eg_harness.resources).
"""
