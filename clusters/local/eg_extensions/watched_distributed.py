"""EG's DistributedProcessProxy plus the launch-failure check its other remote proxies make.

The seed runs Spark drivers as Kubernetes pods; EG's Kubernetes proxy notices a driver pod that
fails to start and answers within seconds. EG's distributed proxy does not look (its own
docstring on detect_launch_failure says so), so on the local target a driver that dies on a bad
-Xmx would keep the user waiting for the whole launch timeout, a behaviour the modelled
deployment does not have. This subclass adds only that check, on the launcher process EG started
on this machine, and is used by the Spark kernelspec alone; the python3_launcher kernelspec keeps
the plain distributed proxy so its behaviour is reported as EG ships it.
"""

from enterprise_gateway.services.processproxies.distributed import DistributedProcessProxy
from enterprise_gateway.services.processproxies.processproxy import RemoteProcessProxy


class WatchedDistributedProcessProxy(DistributedProcessProxy):
    async def confirm_remote_startup(self) -> None:
        self.start_time = RemoteProcessProxy.get_current_time()
        ready_to_connect = False
        while not ready_to_connect:
            await self.handle_timeout()
            self.detect_launch_failure()
            if self.assigned_host:
                ready_to_connect = await self.receive_connection_info()
