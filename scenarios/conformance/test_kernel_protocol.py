"""jupyter-kernel-test's KernelTests, run through the gateway's WebSocket on each hop.

KernelTests is the kernel authors' own conformance check, normally run over ZMQ next to the
kernel. Here the same expectations (declared as class attributes, the checks shared) run
through EG, and through hub -> user server -> EG, via eg_harness.kernel.client, so a hop that
drops, reorders or mangles messages fails a kernel that is itself correct.
"""

from __future__ import annotations

import jupyter_kernel_test as jkt
import pytest
from eg_harness.kernel.client import ChannelsKernelClient


class _ThroughGateway(jkt.KernelTests):
    __test__ = False  # pytest collects TestCase subclasses whatever their name
    hop_name = "gateway"
    spec_index = 0  # which of the target's conformance kernelspecs
    language_name = "python"
    file_extension = ".py"
    code_hello_world = "print('hello, world')"
    code_stderr = "import sys; print('test', file=sys.stderr)"
    completion_samples = [{"text": "zi", "matches": {"zip"}}]
    complete_code_samples = ["1", "print('hello, world')", "def f(x):\n  return x*2\n\n\n"]
    incomplete_code_samples = ['print("""hello', "def f(x):\n  x*2"]
    invalid_code_samples = ["import = 7q"]
    code_page_something = "zip?"
    code_generate_error = "raise"
    code_execute_result = [
        {"code": "1+2+3", "result": "6"},
        {"code": "[n*n for n in range(1, 4)]", "result": "[1, 4, 9]"},
    ]
    code_display_data = [
        {
            "code": "from IPython.display import HTML, display; display(HTML('<b>test</b>'))",
            "mime": "text/html",
        },
        {
            "code": "from IPython.display import Math, display; display(Math('\\\\frac{1}{2}'))",
            "mime": "text/latex",
        },
    ]
    code_history_pattern = "1?2*"
    # Not "range": KernelTests' range check expects the absolute session number back, but
    # IPython names the current session 0 in a range reply (its HistoryManager alias), so
    # ipykernel fails it over ZMQ too; jupyter-kernel-test's own ipykernel example declares only
    # tail and search. Ranges are checked IPython's way by test_history_range_through_the_hop.
    supported_history_operations = ("tail", "search")
    code_inspect_sample = "zip"
    code_clear_output = "from IPython.display import clear_output; clear_output()"

    def test_history_range_through_the_hop(self) -> None:
        """A history range request crosses the hop and returns exactly the cells run, in order
        (asked for the current session as IPython names it, session 0)."""
        codes = [f"egh_history_{i} = {i}" for i in range(3)]
        tail = self.history_helper(codes, output=False, raw=True, hist_access_type="tail", n=3)
        lines = [h[1] for h in tail["content"]["history"]]
        assert [h[2] for h in tail["content"]["history"]] == codes
        reply = self.history_helper(
            [],
            output=False,
            raw=True,
            hist_access_type="range",
            session=0,
            start=lines[0],
            stop=lines[-1] + 1,
        )
        got = reply["content"]["history"]
        assert [h[2] for h in got] == codes, f"range {lines[0]}..{lines[-1]} returned {got}"
        assert [h[1] for h in got] == lines

    # The kernel is the gateway's, reached by WebSocket: no local KernelManager.
    @classmethod
    def setUpClass(cls) -> None:
        pass

    @classmethod
    def tearDownClass(cls) -> None:
        pass

    @pytest.fixture(autouse=True, scope="class")
    def _kernel_through_hop(self, request, target):
        cls = request.cls
        if cls.hop_name == "hub":
            client = request.getfixturevalue("module_user_server").client
        else:
            client = target.gateway.client()
        specs = target.conformance_kernelspecs() or [target.gateway.kernelspec]
        if cls.spec_index >= len(specs):
            pytest.skip(f"the target offers {len(specs)} conformance kernelspec(s)")
        handle = client.launch(specs[cls.spec_index])
        cls.kc = ChannelsKernelClient(handle.channels)
        cls.kernel_name = handle.name
        try:
            yield
        finally:
            handle.close()
            if cls.hop_name == "gateway":
                client.close()


class TestKernelProtocolThroughGateway(_ThroughGateway):
    __test__ = True
    hop_name = "gateway"


class TestKernelProtocolThroughHub(_ThroughGateway):
    __test__ = True
    hop_name = "hub"


# The target's second conformance kernelspec (locally: EG's remote-launch protocol).
class TestSecondKernelspecThroughGateway(_ThroughGateway):
    __test__ = True
    hop_name = "gateway"
    spec_index = 1


class TestSecondKernelspecThroughHub(_ThroughGateway):
    __test__ = True
    hop_name = "hub"
    spec_index = 1
