# Starts Jupyter Notebook 6 for a notebook instance (run as `python3 -c`,
# compiled into the atelier binary; the arguments are Notebook's own).
#
# Idle stop reads api/kernels: a kernel's execution_state and last_activity,
# which Notebook's activity watcher keeps from the kernel's IOPub. Two faults
# of that watcher, measured here, made a working kernel read as idle:
#  - it subscribes before the kernel has bound IOPub, and in about one start
#    in four it then hears nothing for the kernel's first second or two: a
#    cell run at once goes unseen and the kernel reads "starting" throughout.
#    So a kernel is handed out (started, restarted) only once the watcher has
#    heard from it, nudged with kernel_info requests meanwhile.
#  - execution_state is the last status message of any request, and a
#    control-channel request (the websocket's own nudge) answered while a
#    cell runs ends in "idle". So the state is kept per request: busy while
#    any request between its busy and its idle.
import asyncio
import inspect
import sys

from jupyter_client.session import Session
from notebook._tz import utcnow
from notebook.notebookapp import main
from notebook.services.kernels.kernelmanager import MappingKernelManager


def start_watching_activity(self, kernel_id):
    kernel = self._kernels[kernel_id]
    kernel.execution_state = "starting"
    kernel.reason = ""
    kernel.last_activity = utcnow()
    kernel.atelier_working = set()  # msg_ids of the requests between busy and idle
    kernel._activity_stream = kernel.connect_iopub()
    session = Session(config=kernel.session.config, key=kernel.session.key)

    def record_activity(msg_list):
        self.last_kernel_activity = kernel.last_activity = utcnow()
        _, fed = session.feed_identities(msg_list)
        msg = session.deserialize(fed, content=False)
        if msg["header"]["msg_type"] != "status":
            return
        msg = session.deserialize(fed)
        state = msg["content"]["execution_state"]
        request = msg["parent_header"].get("msg_id")
        working = kernel.atelier_working
        if state == "starting":
            working.clear()
        elif state == "busy":
            working.add(request)
        elif state == "idle":
            working.discard(request)
        kernel.execution_state = "busy" if working else state

    kernel._activity_stream.on_recv(record_activity)
    # a kernel that died is started again by Notebook's restarter: the dead
    # process's requests end with it, though its new "starting" may go unheard
    kernel.add_restart_callback(kernel.atelier_working.clear, "restart")


async def heard(km, kernel_id, since, timeout_s=30):
    """Returns once the watcher has heard the kernel after `since` (or the
    kernel is dead, or timeout_s passed)."""
    kernel = km.get_kernel(kernel_id)
    shell = kernel.connect_shell()
    try:
        for i in range(int(timeout_s / 0.05)):
            if kernel.last_activity > since:
                return
            if i % 10 == 0:
                alive = kernel.is_alive()
                if inspect.isawaitable(alive):
                    alive = await alive
                if not alive:
                    return
                kernel.session.send(shell, "kernel_info_request")
            await asyncio.sleep(0.05)
        km.log.warning("kernel %s: no activity heard %d s after its start", kernel_id, timeout_s)
    finally:
        shell.close()


_start_kernel = MappingKernelManager.start_kernel
_restart_kernel = MappingKernelManager.restart_kernel


async def start_kernel(self, kernel_id=None, path=None, **kwargs):
    new = kernel_id is None
    kernel_id = await _start_kernel(self, kernel_id, path, **kwargs)
    if new:
        await heard(self, kernel_id, self.get_kernel(kernel_id).last_activity)
    return kernel_id


async def restart_kernel(self, kernel_id, now=False):
    done = await _restart_kernel(self, kernel_id, now=now)
    since = utcnow()
    self.get_kernel(kernel_id).atelier_working.clear()  # the old process's requests ended with it
    try:
        await done
    except Exception:
        return done  # the failure is Notebook's to report, as before
    await heard(self, kernel_id, since)
    return done


MappingKernelManager.start_watching_activity = start_watching_activity
MappingKernelManager.start_kernel = start_kernel
MappingKernelManager.restart_kernel = restart_kernel
sys.exit(main())
