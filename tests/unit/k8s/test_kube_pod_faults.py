"""The cluster client's fault calls (eg_harness.k8s.client): a delete that finds the pod already
gone is done, and "still exists" means this very pod, not a successor of the same name."""

from __future__ import annotations

import pytest
from eg_harness.k8s.client import Kube, from_json, kubernetes_client


def _pod(uid: str):
    return from_json(
        "V1Pod", {"metadata": {"name": "enterprise-gateway-1", "namespace": "eg", "uid": uid}}
    )


class FakeCore:
    def __init__(self, current=None, error: int | None = None):
        self.current = current
        self.error = error
        self.deleted: list[tuple] = []

    def _raise(self):
        exc = kubernetes_client().client.exceptions.ApiException(status=self.error)
        raise exc

    def delete_namespaced_pod(self, name, namespace, **kw):
        self.deleted.append((namespace, name, kw.get("grace_period_seconds")))
        if self.error:
            self._raise()

    def read_namespaced_pod(self, name, namespace, **kw):
        if self.current is None:
            self.error = self.error or 404
            self._raise()
        return self.current


def _kube(core) -> Kube:
    kube = object.__new__(Kube)
    kube.core = core
    return kube


def test_delete_pod_passes_the_grace_and_tolerates_a_gone_pod():
    core = FakeCore(error=404)
    _kube(core).delete_pod(_pod("u1"), grace_seconds=0)
    assert core.deleted == [("eg", "enterprise-gateway-1", 0)]


def test_delete_pod_raises_other_refusals():
    core = FakeCore(error=403)
    with pytest.raises(kubernetes_client().client.exceptions.ApiException):
        _kube(core).delete_pod(_pod("u1"))


def test_pod_exists_compares_uids():
    assert _kube(FakeCore(current=_pod("u1"))).pod_exists(_pod("u1"))
    assert not _kube(FakeCore(current=_pod("u2"))).pod_exists(_pod("u1"))
    assert not _kube(FakeCore(current=None)).pod_exists(_pod("u1"))
