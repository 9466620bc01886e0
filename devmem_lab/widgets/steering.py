"""Steering panel: the NIC knobs devmem TCP needs, one ethtool command line per change.

``Documentation/networking/devmem.rst`` sets a NIC up with header split, RSS kept off the
devmem queues and an ntuple rule steering the flow onto them. Each control here runs the
command a learner would type, ``ethtool -G eth1 tcp-data-split on``, ``-G ... hds-thresh N``,
``-X eth1 equal N``, ``-K eth1 ntuple on``, ``-N eth1 flow-type tcp6 ... action Q``, through
``host.ethtool`` (``devmem_lab.ethtool`` on an emulated host, the real tool on a
``LinuxHost``) and shows the command with what ethtool printed, refusals included. Initial
values are read back from ``ethtool -g``, ``-l`` and ``-k`` output, so any host works.

Results live on the returned :class:`SteeringPanel`; setting a control's ``.value`` in code
does what clicking it does::

    ui = steering_panel(lab.server)
    ui.controls["tcp_data_split"].value = "on"
    ui.output        # '$ ethtool -G eth1 tcp-data-split on\\n'

ipywidgets is imported when a panel is built, not with the package.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SteeringPanel", "steering_panel"]


@dataclass(eq=False)
class SteeringPanel:
    """Controls, the last change's commands and output, and the displayable box.

    ``result`` is ``{"commands": [...], "ok": bool, "errno": int | None, "text": str}`` for
    the last change; ``output`` the same as a terminal transcript (``$ ethtool ...`` lines
    followed by what ethtool printed); ``log`` every transcript so far.
    """

    host: Any = field(repr=False)
    ifname: str
    controls: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] | None = None
    output: str = ""
    log: list[str] = field(default_factory=list, repr=False)
    rule_id: int | None = None
    widget: Any = field(default=None, repr=False)
    _view: Any = field(default=None, repr=False)
    _syncing: bool = field(default=False, repr=False)

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={w.value!r}" for k, w in self.controls.items())
        return f"SteeringPanel({self.ifname}: {vals})"

    def values(self) -> dict[str, Any]:
        """Current value of every control."""
        return {k: w.value for k, w in self.controls.items()}

    def run(self, *cmdlines: str) -> dict[str, Any]:
        """Run ethtool command lines in order (all of them) and record the transcript."""
        commands, texts, chunks, ok, err = [], [], [], True, None
        for args in cmdlines:
            commands.append(f"ethtool {args}")
            try:
                text = self.host.ethtool(args)
            except OSError as exc:
                ok, err, text = False, exc.errno, (exc.strerror or "") + "\n"
            texts.append(text)
            chunks.append(f"$ ethtool {args}\n{text}")
        self.result = {"commands": commands, "ok": ok, "errno": err, "text": "".join(texts)}
        self.output = "".join(chunks)
        self.log.append(self.output)
        if self._view is not None:
            self._view.value = f"<pre>{html.escape(self.output)}</pre>"
        return self.result

    def _ipython_display_(self) -> None:  # pragma: no cover - needs a frontend
        from IPython.display import display

        display(self.widget)


def _field(text: str, label: str, occurrence: int = -1) -> str | None:
    """Value after ``label:`` in ethtool output (last occurrence = current setting)."""
    found = re.findall(rf"^{re.escape(label)}:\s*(\S+)", text, flags=re.MULTILINE)
    return found[occurrence] if found else None


def _read_state(host: Any, ifname: str) -> dict[str, Any]:
    """Parse ``-g``, ``-l`` and ``-k`` output into the panel's control values."""
    state: dict[str, Any] = {"tcp_data_split": "off", "hds_thresh": 0, "hds_max": 0,
                             "combined": 1, "ntuple": "off"}
    try:
        rings = host.ethtool(f"-g {ifname}")
        split = _field(rings, "TCP data split")
        state["tcp_data_split"] = split if split in ("on", "off") else "off"
        for key, occurrence in (("hds_max", 0), ("hds_thresh", -1)):
            value = _field(rings, "HDS thresh", occurrence)
            state[key] = int(value) if value and value.isdigit() else 0
    except OSError:
        pass
    try:
        value = _field(host.ethtool(f"-l {ifname}"), "Combined")
        state["combined"] = int(value) if value and value.isdigit() else 1
    except OSError:
        pass
    try:
        state["ntuple"] = _field(host.ethtool(f"-k {ifname}"), "ntuple-filters") or "off"
    except OSError:
        pass
    return state


def steering_panel(host: Any, ifname: str | None = None, *, dst_port: int = 5201,
                   queue: int | None = None) -> SteeringPanel:
    """Build the steering panel for ``host``'s NIC.

    Parameters
    ----------
    host
        An emulated ``Host`` or a ``LinuxHost``: anything with ``.ethtool(cmdline)``.
    ifname
        The interface (default ``host.ifname``).
    dst_port, queue
        Initial destination port and target queue of the ntuple rule (queue defaults to the
        last one, where ncdevmem binds).

    Returns
    -------
    SteeringPanel
        ``.controls``: ``tcp_data_split``, ``hds_thresh``, ``rss_equal``, ``ntuple``,
        ``ntuple_queue``, ``dst_port``; ``.result``/``.output`` describe the last change.
    """
    import ipywidgets as w

    ifname = ifname or host.ifname
    state = _read_state(host, ifname)
    combined = state["combined"]
    address = getattr(host, "address", None)
    flow = "tcp6" if address and ":" in address else "tcp4"
    controls = {
        "tcp_data_split": w.ToggleButtons(options=["off", "on", "auto"],
                                          value=state["tcp_data_split"],
                                          description="header split"),
        "hds_thresh": w.BoundedIntText(value=state["hds_thresh"], min=0,
                                       max=max(state["hds_max"], state["hds_thresh"]),
                                       description="hds-thresh",
                                       disabled=not state["hds_max"]),
        "rss_equal": w.IntSlider(value=combined, min=1, max=combined, description="RSS equal"),
        "ntuple": w.ToggleButtons(options=["off", "on"], value=state["ntuple"],
                                  description="ntuple"),
        "ntuple_queue": w.IntSlider(value=combined - 1 if queue is None else queue, min=0,
                                    max=max(combined - 1, 0), description="rule queue"),
        "dst_port": w.BoundedIntText(value=dst_port, min=1, max=65535, description="dst-port"),
    }
    panel = SteeringPanel(host=host, ifname=ifname, controls=controls)
    panel._view = w.HTML(value="<pre></pre>")
    panel.widget = w.VBox([*controls.values(), panel._view])

    def resync() -> None:
        """Put the ring controls back to what the NIC really has (after a refusal)."""
        now = _read_state(host, ifname)
        panel._syncing = True
        try:
            controls["tcp_data_split"].value = now["tcp_data_split"]
            controls["hds_thresh"].value = now["hds_thresh"]
            controls["ntuple"].value = now["ntuple"]
        finally:
            panel._syncing = False

    def install_rule() -> None:
        cmds = []
        if panel.rule_id is not None:
            cmds.append(f"-N {ifname} delete {panel.rule_id}")
        dst_ip = f" dst-ip {address}" if address else ""
        cmds.append(f"-N {ifname} flow-type {flow}{dst_ip} "
                    f"dst-port {controls['dst_port'].value} action "
                    f"{controls['ntuple_queue'].value}")
        panel.rule_id = None
        panel.run(*cmds)
        match = re.search(r"Added rule with ID (\d+)", panel.output)
        if match:
            panel.rule_id = int(match.group(1))

    handlers = {
        "tcp_data_split": lambda v: panel.run(f"-G {ifname} tcp-data-split {v}"),
        "hds_thresh": lambda v: panel.run(f"-G {ifname} hds-thresh {v}"),
        "rss_equal": lambda v: panel.run(f"-X {ifname} equal {v}"),
        "ntuple": lambda v: panel.run(f"-K {ifname} ntuple {v}"),
        "ntuple_queue": lambda _v: install_rule(),
        "dst_port": lambda _v: install_rule(),
    }

    def on_change(name: str):
        def callback(change: dict) -> None:
            if panel._syncing:
                return
            handlers[name](change["new"])
            if not panel.result["ok"] and name in ("tcp_data_split", "hds_thresh", "ntuple"):
                resync()
        return callback

    for name, control in controls.items():
        control.observe(on_change(name), names="value")
    return panel
