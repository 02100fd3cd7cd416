"""One user's journey in JupyterLab through the hub and the gateway, step by step, as a user
clicks it, each step a timed phase (eg_harness.load.journeys.PhaseEvent, kind "browser").

What a user reports is what this checks in the page: a spawn form without its choices, a
Launcher without the gateway's kernelspecs (or with local ones), a kernel whose status never
reaches Idle, output that never shows. A step that fails raises `StepFailed` naming the step;
the page's requests that failed on the server (5xx) and every request for one kernelspec
(`GET /api/kernelspecs/<name>`, which a gateway-mode server answers 500) are kept, so the report
can say whether Lab's UI met them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from eg_harness.load.journeys import Journey, PhaseEvent
from eg_harness.runtime.secrets import redact
from eg_harness.runtime.text import clip
from eg_harness.runtime.waits import WaitTimeout, wait_for
from eg_harness.targets.endpoints import HubPages

KIND = "browser"
# The figures a user feels, made of the phases below (eg_harness.browser.figures).
LOGIN_TO_LAB = "login_to_lab_usable"
OPEN_TO_IDLE = "notebook_open_to_kernel_idle"
EXECUTE_TO_OUTPUT = "execute_to_output"
# KubeSpawner names a profile's form fields profile-option-{profile}--{option}; which options
# the form must offer, and which takes free text (unlisted_choice), are the target's hub pages
# (eg_harness.targets.endpoints.HubPages).
UNLISTED = "unlisted-choice"
FREE_TEXT_DEFAULT = "1G"  # a Kubernetes quantity and a Spark size alike
SINGLE_KERNELSPEC = re.compile(r"/api/kernelspecs/[^/?]+")
# A notebook's kernel that is not Idle by now is stuck, not slow: through a gateway-mode user
# server Lab's reconnect meets a stale upstream connection that EG frees at its 30 s WebSocket
# ping timeout, or never (scenarios/websocket/test_negotiation.py's Lab-style fallback has the
# cause). A user reloads the page then; so does the journey, recording the stall, a few times.
STALL_S = 45.0
RELOADS = 3
STOP_RECLICK_S = 2.0  # a Stop My Server click the page did not take by then is clicked again


class StepFailed(AssertionError):
    """A step of the journey did not do what a user expects; the message names the step."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"browser step {step!r}: {message}")
        self.step = step


@dataclass
class PageLog:
    """What the page said and met: console lines, page errors, server errors, kernelspec
    requests, and the kernel WebSockets it opened (kernel ids as the browser saw them)."""

    console: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)
    single_kernelspec: list[str] = field(default_factory=list)
    kernelspecs_lists: list[int] = field(default_factory=list)
    kernel_sockets: list[str] = field(default_factory=list)
    # Notebooks whose kernel status stuck short of Idle: (step, what the status bar showed).
    stalls: list[tuple[str, str]] = field(default_factory=list)

    def attach(self, page) -> None:
        page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        page.on("response", self._response)
        page.on("websocket", self._socket)

    def _response(self, resp) -> None:
        path = urlsplit(resp.url).path
        line = f"{resp.status} {resp.request.method} {path}"
        if resp.status >= 500:
            self.server_errors.append(line)
        if SINGLE_KERNELSPEC.search(path):
            self.single_kernelspec.append(line)
        elif path.endswith("/api/kernelspecs"):
            self.kernelspecs_lists.append(resp.status)

    def _socket(self, ws) -> None:
        m = re.search(r"/api/kernels/([0-9a-f-]{36})/channels", ws.url)
        if m and m.group(1) not in self.kernel_sockets:
            self.kernel_sockets.append(m.group(1))

    def text(self) -> str:
        lines = [*self.console, *(f"server error: {e}" for e in self.server_errors)]
        return redact("\n".join(lines) + "\n")


@dataclass
class Choice:
    """What the user picks on the spawn form: listed choices by option (an option not named
    keeps the choice the form shows, picked all the same) and the text typed into the free-text
    option."""

    listed: dict[str, str] = field(default_factory=dict)
    free_text: str | None = FREE_TEXT_DEFAULT

    @classmethod
    def of(cls, user_options: dict, pages: HubPages) -> Choice:
        """The choice the target's hub scenarios spawn with (its hub.user_options), made by
        hand: `<free option>--unlisted-choice` is typed, any other option of the form picked."""
        free = pages.free_text_option
        listed = {k: str(v) for k, v in user_options.items() if k in pages.form_options}
        if not free:
            return cls(listed, None)
        listed.pop(free, None)
        return cls(listed, str(user_options.get(f"{free}--{UNLISTED}", FREE_TEXT_DEFAULT)))


class LabJourney:
    """The journey on one page for one hub user; `events` collects every phase, failed ones
    included. What the page claims about kernels the caller checks against the gateway's REST
    API (the kernel ids are in `log.kernel_sockets`)."""

    def __init__(
        self,
        page,
        hub_url: str,
        user: str,
        profile: str,
        *,
        pages: HubPages | None = None,
        timeout: float = 120.0,
        kernel_timeout: float | None = None,
        emit: Callable[[PhaseEvent], None] | None = None,
    ) -> None:
        self.page = page
        self.hub_url = hub_url.rstrip("/")
        self.user = user
        self.profile = profile
        self.pages = pages or HubPages()
        # `timeout` bounds what the hub does (a server spawn, on Kubernetes a pod); a kernel's
        # start, restart and outputs have the gateway's launch timeout.
        self.timeout = timeout
        self.kernel_timeout = kernel_timeout or timeout
        self.events: list[PhaseEvent] = []
        self._also = emit
        self.journey = Journey(KIND, self._emit)
        self.log = PageLog()
        self.log.attach(page)
        self.step = ""
        self.kernel_display = ""
        page.set_default_timeout(timeout * 1000)

    # -- timing ----------------------------------------------------------------------------
    def _emit(self, event: PhaseEvent) -> None:
        self.events.append(event)
        if self._also is not None:
            self._also(event)

    def phase(self, name: str):
        self.step = name
        return self.journey.phase(name)

    def figure(self, name: str, seconds: float) -> None:
        """A figure the user feels, made of several phases (an event of its own)."""
        self.journey.emit(PhaseEvent(self.journey.id, KIND, name, time.time(), seconds, True))

    def _fail(self, message: str) -> StepFailed:
        return StepFailed(self.step, message)

    # -- the hub ---------------------------------------------------------------------------
    def log_in(self) -> None:
        page = self.page
        with self.phase("login"):
            page.goto(f"{self.hub_url}/hub/login")
            if page.locator("#username_input").count() == 0:
                raise self._fail(
                    "the hub's login page has no user-name form (an authenticator the browser "
                    "suite cannot log in to)"
                )
            page.fill("#username_input", self.user)
            if page.locator("#password_input").count():
                page.fill("#password_input", self.pages.password or "egh-browser")
            page.click("#login_submit")
            page.wait_for_url(re.compile(r".*/(hub/spawn|hub/home|user/).*"))

    def spawn_form(self, choice: Choice) -> None:
        """The form offers the profile's options the target's hub pages name (hub.pages:
        the seed's image, driver memory with free text, and CPUs); the user picks them by
        clicking and typing, and starts the server."""
        page, slug, pages = self.page, self.profile, self.pages
        with self.phase("spawn_form"):
            if "/hub/spawn" not in page.url:
                page.goto(f"{self.hub_url}/hub/spawn")
            radio = page.locator(f"#profile-item-{slug}")
            if radio.count() == 0:
                raise self._fail(f"the spawn form offers no {slug!r} profile")

            def select(name: str):
                return page.locator(f"select[id='profile-option-{slug}--{name}']")

            missing = [
                f"{label} (profile-option-{slug}--{name})"
                for name, label in pages.form_options.items()
                if select(name).count() == 0
            ]
            if missing:
                raise self._fail(
                    f"the spawn form's {slug!r} profile is missing the choice of "
                    f"{', '.join(missing)}: users cannot pick it"
                )
            free = pages.free_text_option
            if free and select(free).locator(f"option[value='{UNLISTED}']").count() == 0:
                label = pages.form_options.get(free, free)
                raise self._fail(
                    f"the spawn form's {label} has no free-text choice ({UNLISTED}): "
                    "users cannot type a value the list does not hold"
                )
            radio.check()
            for name in pages.form_options:
                if name != free:  # the listed choice, or the one the form shows, clicked
                    picked = choice.listed.get(name) or select(name).input_value()
                    select(name).select_option(picked)
            if free:
                select(free).select_option(UNLISTED)
                typed = page.locator(f"input[id='profile-option-{slug}--{free}--{UNLISTED}']")
                typed.fill(choice.free_text)
            page.locator("form [type=submit]").first.click()

    def lab_loads(self) -> None:
        with self.phase("lab_loads"):
            self.page.wait_for_url(re.compile(rf".*/user/{re.escape(self.user)}/lab.*"))
            self.page.locator(".jp-Launcher").wait_for()

    # -- the Launcher ----------------------------------------------------------------------
    def launcher_kernelspecs(self, expected: dict[str, str] | None) -> list[str]:
        """The notebook cards of the Launcher once Lab has the kernelspecs list; `expected`
        (display name -> kernelspec name, the gateway's) must be exactly what it lists."""
        page = self.page
        with self.phase("launcher"):
            wait_for(
                "JupyterLab to fetch the kernelspecs list",
                lambda: self.log.kernelspecs_lists,
                self.timeout,
            )
            cards = page.locator(".jp-LauncherCard[data-category='Notebook']")

            def listed() -> list[str]:
                return sorted(c.get_attribute("title") or "" for c in cards.all())

            if expected:
                try:
                    wait_for(
                        "the Launcher to list the gateway's kernelspecs",
                        lambda: set(listed()) >= set(expected),
                        10,
                    )
                except WaitTimeout:
                    pass  # judged below, naming what it lists
            seen = listed()
            statuses = ", ".join(str(s) for s in self.log.kernelspecs_lists)
            if not seen:
                raise self._fail(
                    "the Launcher lists no kernelspecs (the user server's GET /api/kernelspecs "
                    f"answered {statuses}): users cannot open a notebook"
                )
            if expected is not None:
                local = sorted(set(seen) - set(expected))
                if local:
                    raise self._fail(
                        f"the Launcher lists local kernels {local} that the gateway does not "
                        "offer: the user server is not in gateway mode"
                    )
                absent = sorted(set(expected) - set(seen))
                if absent:
                    raise self._fail(f"the Launcher lacks the gateway's kernelspecs {absent}")
            return seen

    # -- the notebook ----------------------------------------------------------------------
    def open_notebook(self, display_name: str, prefix: str = "") -> float:
        """Click the kernelspec's Launcher card; wait until the status bar says the kernel is
        Idle. Returns the seconds from the click to Idle. `prefix` tells a second notebook's
        phases apart."""
        page = self.page
        self.kernel_display = display_name
        start = time.monotonic()
        with self.phase(f"{prefix}notebook_create"):
            page.locator(f".jp-LauncherCard[data-category='Notebook'][title='{display_name}']:visible"
                         ).click()  # fmt: skip
            page.locator(".jp-NotebookPanel .jp-Cell:visible").first.wait_for()
        with self.phase(f"{prefix}kernel_idle"):
            self._idle_or_reload()
        return time.monotonic() - start

    def _idle_or_reload(self) -> None:
        """Idle within STALL_S, or reload the page as a user would and wait again, recording
        each stall; still stuck after RELOADS reloads fails the step, naming every stall."""
        for attempt in range(RELOADS + 1):
            try:
                self.wait_status("Idle", STALL_S)
                return
            except StepFailed:
                shown = " ".join(self.status().split())
                self.log.stalls.append((self.step, shown))
                if attempt == RELOADS:
                    raise self._fail(
                        f"the kernel status never showed Idle, {RELOADS} page reloads "
                        f"included ({STALL_S:.0f} s each); the status bar showed: "
                        + "; ".join(s for _, s in self.log.stalls[-(RELOADS + 1) :])
                    ) from None
                self.page.reload()
                self.page.locator(".jp-NotebookPanel .jp-Cell:visible").first.wait_for()

    def status(self) -> str:
        return self.page.locator("#jp-main-statusbar").inner_text()

    def wait_status(self, word: str, timeout: float | None = None) -> None:
        want = f"{self.kernel_display} | {word}"
        try:
            wait_for(f"the kernel status {want!r}", lambda: want in self.status(),
                     timeout or self.kernel_timeout, interval=0.05, max_interval=0.25)  # fmt: skip
        except WaitTimeout:
            shown = " ".join(self.status().split())
            raise self._fail(f"the status bar never showed {want!r}; it shows {shown!r}") from None

    def _type_and_run(self, code: str) -> None:
        page = self.page
        cell = page.locator(".jp-NotebookPanel:visible .jp-Cell").last
        editor = cell.locator(".cm-content")
        editor.click()
        page.keyboard.insert_text(code)
        page.keyboard.press("Shift+Enter")

    def run_cell(self, code: str, expect: str, *, selector: str = ".jp-OutputArea-output",
                 phase: str = "execute") -> float:  # fmt: skip
        """Type `code` into the last cell and run it; wait until an output with `expect` is in
        the page. Returns the seconds from Shift+Enter to the output shown."""
        page = self.page
        with self.phase(phase):
            before = page.locator(selector).filter(has_text=expect).count()
            self._type_and_run(code)
            start = time.monotonic()
            try:
                wait_for(f"output {expect!r}",
                         lambda: page.locator(selector).filter(has_text=expect).count() > before,
                         self.kernel_timeout, interval=0.02, max_interval=0.2)  # fmt: skip
            except WaitTimeout:
                raise self._fail(
                    f"{code!r} ran but {expect!r} never appeared in the page ({selector}); "
                    f"the status bar shows {' '.join(self.status().split())!r}"
                ) from None
            return time.monotonic() - start

    def menu(self, menu: str, item: str) -> None:
        page = self.page
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(rf"^{menu}$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(rf"^{re.escape(item)}$")).click()

    def interrupt(self) -> None:
        """A long cell, interrupted from the Kernel menu: KeyboardInterrupt shows, then Idle."""
        with self.phase("interrupt"):
            self._type_and_run("import time\negh_before_restart = 1\ntime.sleep(300)")
            self.wait_status("Busy", 30)
            self.menu("Kernel", "Interrupt Kernel")
            stderr = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
            wait_for("KeyboardInterrupt in the page",
                     lambda: self.page.locator(stderr).filter(has_text="KeyboardInterrupt").count(),
                     30)  # fmt: skip
            self.wait_status("Idle", 30)

    def restart(self) -> None:
        """Restart from the Kernel menu, confirmed in its dialog: Idle again, state gone.
        Lab reconnects after a restart with the same session id, so the restart meets the
        open's stall too (seen once in a run of every suite with six workers: 'Unknown' after
        the restart), and is handled, and recorded, the same way."""
        with self.phase("restart"):
            self.menu("Kernel", "Restart Kernel…")
            self.page.locator(".jp-Dialog button.jp-mod-accept").click()
            self._idle_or_reload()
        self.run_cell("print(globals().get('egh_before_restart', 'egh-fresh-kernel'))",
                      "egh-fresh-kernel", phase="after_restart")  # fmt: skip

    def shut_down(self) -> None:
        with self.phase("shutdown"):
            self.menu("Kernel", "Shut Down Kernel")
            wait_for("the status bar to show No Kernel", lambda: "No Kernel" in self.status(),
                     self.kernel_timeout)  # fmt: skip

    def new_notebook_from_launcher(self, display_name: str) -> float:
        with self.phase("new_launcher"):
            self.menu("File", "New Launcher")
            self.page.locator(".jp-Launcher:visible").wait_for()
        return self.open_notebook(display_name, prefix="second_")

    def stop_server_from_control_panel(self) -> None:
        """Stop My Server on the hub's home page, until the hub took the stop: its script
        disables "My Server" at the click and hides Stop once the hub answered (JupyterHub 4 to
        6 alike). The #start link is on the page all along, so it proves nothing; and a click
        before the page's script bound the button does nothing (on the node target's JupyterHub
        4, 3 of 5 stops never reached the hub), so an unanswered click is clicked again."""
        page = self.page
        with self.phase("stop_server"):
            page.goto(f"{self.hub_url}/hub/home")
            stop = page.locator("#stop")
            if stop.count() == 0 or not stop.is_visible():
                raise self._fail("the hub's home page offers no Stop My Server button")
            clicks: list[float] = []
            taken: list[bool] = []

            def stopped() -> bool:
                if not stop.is_visible():
                    return True
                if page.locator("#start[disabled]").count():
                    taken.append(True)  # the page took a click: wait for the hub, never re-click
                if not taken and (not clicks or time.monotonic() - clicks[-1] > STOP_RECLICK_S):
                    clicks.append(time.monotonic())
                    # Bounded: a button hidden meanwhile is not waited for (counts as not yet).
                    stop.click(timeout=STOP_RECLICK_S * 1000)
                return False

            try:
                wait_for("the hub to take the stop", stopped, self.timeout, interval=0.1,
                         max_interval=0.5)  # fmt: skip
            except WaitTimeout:
                raise self._fail(
                    f"Stop My Server, clicked {len(clicks)} times, never took: the button is "
                    "still shown"
                ) from None


def describe_failure(journey: LabJourney, exc: BaseException) -> str:
    """The message of a failed journey: the step, then what went wrong, redacted and clipped
    (a Playwright error carries its whole call log)."""
    if isinstance(exc, StepFailed) or str(exc).startswith("browser step "):
        return redact(str(exc))
    return redact(f"browser step {journey.step!r}: {clip(str(exc), 600)}")
