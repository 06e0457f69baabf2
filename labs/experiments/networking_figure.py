"""The networking lab's figure: the run's topology as read back from the kernel (top)
and one reachability matrix per mode (source × destination, bottom), green where both
probes got through and red where neither did, with the round trips.

Split from networking.py, which builds the networks and measures; the names of modes
and endpoints live here because both modules show them. The diagram is drawn only
from the run's ``topology`` sample (namespaces, interfaces, veth peers, bridges,
addresses, nftables rules), never from a fixed picture: what is not there is not drawn.
"""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .charts import base_layout

MODES = ("nat", "bridged", "hostonly", "internal")
MODE_LABELS = {"nat": "NAT", "bridged": "Bridged", "hostonly": "Host-only", "internal": "Internal"}
GUESTS = ("guest", "guest2")
ENDPOINTS = (*GUESTS, "host", "lan-peer")
ENDPOINT_LABELS = {"guest": "guest 1", "guest2": "guest 2", "host": "host", "lan-peer": "LAN peer"}
# The quiz's count covers the lab as it was before the second guest and internal mode.
CLASSIC_MODES = ("nat", "bridged", "hostonly")
CLASSIC_ENDPOINTS = ("guest", "host", "lan-peer")
PROTOCOL_SHORT = {"icmp": "ping", "tcp": "TCP"}

REACHED, PARTLY, NOT_REACHED = "#2f9e44", "#f0a830", "#d9480f"
# z: 0 neither protocol got through, 0.5 one did, 1 both did; the diagonal stays empty.
COLOUR_SCALE = [[0.0, NOT_REACHED], [0.5, PARTLY], [1.0, REACHED]]

# -- the topology diagram ------------------------------------------------------------------

# Left to right: bridged guests sit under the LAN switch, so their cables do not cross
# the host; NAT and host-only hang off the host's bridges; internal is on its own.
DIAGRAM_COLUMN = {"bridged": 0, "nat": 1, "hostonly": 2, "internal": 3}
COLUMN_WIDTH = 2.5
BOX_W, BOX_H = 1.0, 0.56  # one node (an endpoint's stack or a bridge), in axis units
GUEST_Y, BRIDGE_Y, HOST_Y, LAN_Y = 0.0, 1.25, 2.45, 3.55
MODE_COLOURS = {"nat": "#1c7ed6", "bridged": "#7048e8", "hostonly": "#0c8599",
                "internal": "#e8590c"}  # fmt: skip
NEUTRAL = "#495057"


def _column_x(mode: str) -> float:
    return 1.0 + COLUMN_WIDTH * DIAGRAM_COLUMN[mode]


def _short(name: str) -> str:
    """An interface name without its ``vl<id>-`` prefix, to keep labels readable."""
    return name.split("-", 1)[1] if name.startswith("vl") and "-" in name else name


def _nodes(topology: dict) -> dict[tuple, dict]:
    """Every node to draw: each endpoint's stack, each bridge, placed by role."""
    roles = topology.get("roles", {})
    nodes: dict[tuple, dict] = {}
    for space in topology["namespaces"]:
        ns, role = space["namespace"], roles.get(space["namespace"], {})
        kind = role.get("role", "other")
        interfaces = space["interfaces"]
        for bridge in (i for i in interfaces if i["kind"] == "bridge"):
            nodes["bridge", ns, bridge["name"]] = {
                "ns": ns,
                "kind": "bridge",
                "role": kind,
                "label": f"bridge {_short(bridge['name'])}"
                + "".join(f"<br>{a}" for a in bridge["addresses"]),
            }
        if kind in ("guest", "lan-peer", "host"):
            label = ENDPOINT_LABELS.get(role.get("endpoint", kind), kind)
            address = ", ".join(
                a for i in interfaces if not i["master"] and i["kind"] != "bridge"
                for a in i["addresses"]
            )  # fmt: skip
            nodes["stack", ns] = {
                "ns": ns,
                "kind": "stack",
                "role": kind,
                "mode": role.get("mode"),
                "endpoint": role.get("endpoint"),
                "label": f"{label}<br>{address}" if address else label,
            }
    return nodes


def _cables(topology: dict) -> list[tuple[tuple, tuple, str]]:
    """veth pairs as (node, node, hover text), each end on its bridge when enslaved."""

    def end(ns: str, interface: dict) -> tuple:
        return ("bridge", ns, interface["master"]) if interface["master"] else ("stack", ns)

    by_name = {
        (space["namespace"], i["name"]): i for space in topology["namespaces"]
        for i in space["interfaces"]
    }  # fmt: skip
    cables, seen = [], set()
    for (ns, name), interface in by_name.items():
        peer = interface.get("peer")
        if interface["kind"] != "veth" or not peer or (ns, name) in seen:
            continue
        other = by_name.get((peer["namespace"], peer["name"]))
        if other is None:
            continue
        seen |= {(ns, name), (peer["namespace"], peer["name"])}
        cables.append((end(ns, interface), end(peer["namespace"], other),
                       f"veth {name} ↔ {peer['name']}"))  # fmt: skip
    return cables


def _place(nodes: dict[tuple, dict], cables: list) -> None:
    """x, y for every node: guests by mode column, bridges above the guests they
    connect, the host above its bridges, the LAN switch and its peer on top."""
    neighbours: dict[tuple, list[tuple]] = {key: [] for key in nodes}
    for a, b, _ in cables:
        if a in nodes and b in nodes:
            neighbours[a].append(b)
            neighbours[b].append(a)
    for node in nodes.values():
        if node["role"] == "guest" and node["mode"] in DIAGRAM_COLUMN:
            offset = -0.55 if node["endpoint"] == GUESTS[0] else 0.55
            node["x"], node["y"] = _column_x(node["mode"]) + offset, GUEST_Y
    lan_x = _column_x("bridged") + 0.9
    for key, node in nodes.items():
        if node["kind"] != "bridge":
            continue
        guests = [nodes[n]["x"] for n in neighbours[key] if "x" in nodes[n]]
        if node["role"] == "lan-switch":
            node["x"], node["y"] = lan_x, LAN_Y
        else:
            node["x"] = sum(guests) / len(guests) if guests else lan_x + 2
            node["y"] = BRIDGE_Y
    host_bridges = [n["x"] for n in nodes.values() if n["role"] == "host" and n["kind"] == "bridge"]
    for node in nodes.values():
        if node["role"] == "host" and node["kind"] == "stack":
            node["x"] = sum(host_bridges) / len(host_bridges) if host_bridges else lan_x + 2
            node["y"] = HOST_Y
        elif node["role"] == "lan-peer":
            node["x"], node["y"] = lan_x - 1.5, LAN_Y
    for index, node in enumerate(n for n in nodes.values() if "x" not in n):
        node["x"], node["y"] = 9.0, GUEST_Y + index * 0.7  # anything the roles do not name


def _node_colour(node: dict) -> str:
    return MODE_COLOURS.get(node.get("mode") or "", NEUTRAL)


def _draw_topology(fig: go.Figure, topology: dict) -> None:
    nodes, cables = _nodes(topology), _cables(topology)
    _place(nodes, cables)
    spaces = {space["namespace"]: space for space in topology["namespaces"]}
    roles = topology.get("roles", {})

    # Namespaces holding more than one node, or only switches, get a dashed outline.
    members: dict[str, list[dict]] = {}
    for node in nodes.values():
        members.setdefault(node["ns"], []).append(node)
    for ns, inside in members.items():
        role = roles.get(ns, {}).get("role", "")
        if len(inside) == 1 and inside[0]["kind"] == "stack":
            continue
        x0 = min(n["x"] for n in inside) - BOX_W / 2 - 0.15
        x1 = max(n["x"] for n in inside) + BOX_W / 2 + 0.15
        y0 = min(n["y"] for n in inside) - BOX_H / 2 - 0.15
        y1 = max(n["y"] for n in inside) + BOX_H / 2 + 0.3
        fig.add_shape(type="rect", x0=x0, x1=x1, y0=y0, y1=y1, row=1, col=1,
                      line={"color": "#868e96", "dash": "dash", "width": 1},
                      fillcolor="rgba(241,243,245,0.6)", layer="below")  # fmt: skip
        title = {"host": "host namespace", "lan-switch": "LAN switch",
                 "internal-switch": "internal switch"}.get(role, _short(ns))  # fmt: skip
        if spaces[ns]["forwarding"]:
            title += " · forwarding on"
        fig.add_annotation(x=x0 + 0.05, y=y1 - 0.02, text=f"<i>{title}</i>", showarrow=False,
                           xanchor="left", yanchor="top", font={"size": 10, "color": NEUTRAL},
                           row=1, col=1)  # fmt: skip

    # Cables: veths (solid) and, inside the host, routing between its own addresses.
    xs, ys, mid_x, mid_y, hover = [], [], [], [], []
    for a, b, text in cables:
        if a in nodes and b in nodes:
            (ax, ay), (bx, by) = _edge_points(nodes[a], nodes[b])
            xs += [ax, bx, None]
            ys += [ay, by, None]
            mid_x.append((nodes[a]["x"] + nodes[b]["x"]) / 2)
            mid_y.append((nodes[a]["y"] + nodes[b]["y"]) / 2)
            hover.append(text)
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line={"color": NEUTRAL, "width": 2},
                             hoverinfo="skip", showlegend=False, name="veth"), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Scatter(x=mid_x, y=mid_y, mode="markers", hovertext=hover,
                             hoverinfo="text", marker={"size": 7, "color": NEUTRAL},
                             showlegend=False, name="veth pairs"), row=1, col=1)  # fmt: skip
    routed_x, routed_y = [], []
    for node in nodes.values():
        if node["kind"] == "stack" and node["role"] == "host":
            for other in nodes.values():
                if other["ns"] == node["ns"] and other["kind"] == "bridge":
                    (ax, ay), (bx, by) = _edge_points(node, other)
                    routed_x += [ax, bx, None]
                    routed_y += [ay, by, None]
    fig.add_trace(go.Scatter(x=routed_x, y=routed_y, mode="lines", hoverinfo="skip",
                             line={"color": NEUTRAL, "width": 1.5, "dash": "dot"},
                             showlegend=False, name="routed in the host"), row=1, col=1)  # fmt: skip

    # Nodes: a box each, with the label inside and the kernel's details on hover.
    for node in nodes.values():
        colour = _node_colour(node)
        fig.add_shape(type="rect", x0=node["x"] - BOX_W / 2, x1=node["x"] + BOX_W / 2,
                      y0=node["y"] - BOX_H / 2, y1=node["y"] + BOX_H / 2, row=1, col=1,
                      line={"color": colour, "width": 2}, layer="below",
                      fillcolor="white" if node["kind"] == "stack" else "#e9ecef")  # fmt: skip
    node_list = list(nodes.values())
    fig.add_trace(
        go.Scatter(
            x=[n["x"] for n in node_list],
            y=[n["y"] for n in node_list],
            mode="text",
            text=[n["label"] for n in node_list],
            textfont={"size": 10},
            hovertext=[_hover(spaces[n["ns"]]) for n in node_list],
            hoverinfo="text",
            showlegend=False,
            name="namespaces",
        ),
        row=1,
        col=1,
    )

    # The NAT rules, as nftables lists them in the host namespace.
    rules = [
        f"{_short(table['table'])}: {_shorten_names(rule)}"
        for space in topology["namespaces"] for table in space["nft"] for rule in table["rules"]
    ]  # fmt: skip
    host = next((n for n in node_list if n["role"] == "host" and n["kind"] == "stack"), None)
    if rules and host:
        fig.add_annotation(x=host["x"] + BOX_W / 2 + 0.3, y=host["y"], row=1, col=1,
                           text="nftables in the host namespace:<br>" + "<br>".join(rules),
                           showarrow=False, xanchor="left", align="left",
                           font={"size": 10, "family": "monospace", "color": NEUTRAL})  # fmt: skip
    for mode in DIAGRAM_COLUMN:
        fig.add_annotation(x=_column_x(mode), y=GUEST_Y - BOX_H / 2 - 0.12, yanchor="top",
                           text=f"<b>{MODE_LABELS[mode]}</b>", showarrow=False, row=1, col=1,
                           font={"size": 12, "color": MODE_COLOURS[mode]})  # fmt: skip
    fig.update_xaxes(visible=False, range=[-0.3, _column_x("internal") + 1.3], row=1, col=1)
    fig.update_yaxes(visible=False, range=[GUEST_Y - 0.8, LAN_Y + 0.6], row=1, col=1)


def _edge_points(a: dict, b: dict) -> tuple[tuple[float, float], tuple[float, float]]:
    """A line between two node boxes, cut at the boxes' edges so it never runs over
    their labels."""

    def border(start: dict, towards: dict) -> tuple[float, float]:
        dx, dy = towards["x"] - start["x"], towards["y"] - start["y"]
        scale = min(
            (BOX_W / 2) / abs(dx) if dx else float("inf"),
            (BOX_H / 2) / abs(dy) if dy else float("inf"),
        )
        return start["x"] + dx * scale, start["y"] + dy * scale

    return border(a, b), border(b, a)


def server_label(name: str | None) -> str:
    """A server's greeting name (``nat:guest``) as the page says it (NAT guest 1)."""
    if not name:
        return ""
    mode, _, endpoint = name.rpartition(":")
    label = ENDPOINT_LABELS.get(endpoint, endpoint)
    return f"{MODE_LABELS.get(mode, mode)} {label}" if mode else label


def _shorten_names(rule: str) -> str:
    words = [_short(w.strip('"')) if w.startswith('"vl') else w for w in rule.split()]
    return " ".join(words)


def _hover(space: dict) -> str:
    lines = [f"<b>{space['namespace']}</b>"]
    for interface in space["interfaces"]:
        where = f" → {interface['peer']['namespace']}" if interface.get("peer") else ""
        master = f" in {interface['master']}" if interface["master"] else ""
        addresses = " " + ", ".join(interface["addresses"]) if interface["addresses"] else ""
        lines.append(f"{interface['kind']} {interface['name']}{master}{addresses}{where}")
    lines += [f"route {r}" for r in space["routes"]]
    return "<br>".join(lines)


# -- the reachability matrices ------------------------------------------------------------


def _cell(rows: list[dict], seen_names: dict[str, str]) -> tuple[float | None, str, str]:
    """z value, the text shown in the cell, and the hover text for one pair."""
    if not rows:
        return None, "", ""
    reached = sum(1 for r in rows if r["reachable"])
    lines, notes = [], []
    for row in rows:
        name = PROTOCOL_SHORT.get(row["protocol"], row["protocol"])
        if row["reachable"]:
            lines.append(f"{name} {row['latency_min_ms']:.3f}")
        else:
            lines.append(f"{name} ✗ {row['outcome']}")
        seen, own = row.get("seen_as"), row.get("source_address")
        if seen:
            rewritten = f" (rewritten from {own})" if own and seen != own else ""
            notes.append(f"the server saw the source as {seen}{rewritten}")
    mark = "✓" if reached == len(rows) else ("✗" if reached == 0 else "½")
    outcomes = {r["outcome"] for r in rows}
    # The same reason for both protocols is said once.
    shown = [outcomes.pop()] if reached == 0 and len(outcomes) == 1 else list(lines)
    # Cells are narrow: a rewritten source is named by whose address it is ("as host").
    for row in rows:
        seen, own = row.get("seen_as"), row.get("source_address")
        if seen and own and seen != own:
            shown.append(f"<i>as {seen_names.get(seen, seen)}</i>")
            break
    text = f"<b>{mark}</b><br>" + "<br>".join(shown)
    hover = f"to {rows[0]['address']}<br>" + "<br>".join(lines + notes)
    return reached / len(rows), text, hover


def _address_owners(topology: dict | None) -> dict[str, str]:
    """Address → the endpoint it belongs to ("host", "LAN peer"…), from the topology."""
    if not topology:
        return {}
    owners = {}
    roles = topology.get("roles", {})
    for space in topology["namespaces"]:
        role = roles.get(space["namespace"], {})
        label = ENDPOINT_LABELS.get(role.get("endpoint") or role.get("role", ""))
        for interface in space["interfaces"]:
            for cidr in interface["addresses"]:
                if label:
                    owners[cidr.split("/")[0]] = label
    return owners


def _matrix(samples: list[dict], mode: str, owners: dict[str, str]) -> tuple[list, list, list]:
    z, text, hover = [], [], []
    for source in ENDPOINTS:
        cells = [
            _cell([
                s for s in samples
                if s.get("kind") == "reachability" and s["mode"] == mode
                and s["source"] == source and s["destination"] == destination
            ], owners)
            for destination in ENDPOINTS
        ]  # fmt: skip
        z.append([c[0] for c in cells])
        text.append([c[1] for c in cells])
        hover.append([c[2] for c in cells])
    return z, text, hover


def _reached_count(z: list[list]) -> tuple[int, int]:
    values = [v for row in z for v in row if v is not None]
    return sum(1 for v in values if v == 1), len(values)


def _footnote(samples: list[dict], summary: dict) -> list[str]:
    parts = []
    without = [s for s in samples if s.get("kind") == "without-masquerade"]
    if without:
        got = all(s["reachable"] for s in without)
        parts.append(
            "NAT guest → LAN peer with forwarding but no masquerade: "
            + ("reached" if got else "not reached (" + without[0]["outcome"] + ")")
            + (
                f"; with masquerade the LAN peer's server saw {seen}"
                if (seen := summary.get("nat_guest_seen_as"))
                else ""
            )
        )
    forwards = [s for s in samples if s.get("kind") in ("port-forward-no-rule", "port-forward")]
    if forwards:
        told = []
        for row in forwards:
            rule = "with the rule" if row["kind"] == "port-forward" else "no rule"
            result = (
                f"answered by {server_label(row['answered_by'])}, which saw {row['seen_as']}"
                if row["reachable"]
                else row["outcome"]
            )
            told.append(f"{rule}: {result}")
        parts.append(f"Port forward, LAN peer → {forwards[0]['address']}: " + "; ".join(told))
    return parts


def figure(samples: list[dict], summary: dict, host: dict) -> go.Figure:
    topology = next((s for s in samples if s.get("kind") == "topology"), None)
    owners = _address_owners(topology)
    matrices = {mode: _matrix(samples, mode, owners) for mode in MODES}
    titles = ["Topology read back from the kernel" if topology else "Topology (not read yet)"]
    for mode in MODES:
        reached, measured = _reached_count(matrices[mode][0])
        titles.append(f"{MODE_LABELS[mode]}: {reached} of {measured} pairs")
    fig = make_subplots(
        rows=2,
        cols=len(MODES),
        specs=[[{"colspan": len(MODES)}, None, None, None], [{}] * len(MODES)],
        subplot_titles=titles,
        horizontal_spacing=0.04,
        vertical_spacing=0.1,
        row_heights=[0.5, 0.5],
    )
    if topology:
        _draw_topology(fig, topology)
    else:
        fig.update_xaxes(visible=False, row=1, col=1)
        fig.update_yaxes(visible=False, row=1, col=1)
    labels = [ENDPOINT_LABELS[e] for e in ENDPOINTS]
    for index, mode in enumerate(MODES, start=1):
        z, text, hover = matrices[mode]
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=labels,
                y=labels,
                text=text,
                customdata=hover,
                texttemplate="%{text}",
                textfont={"size": 9, "color": "white"},
                colorscale=COLOUR_SCALE,
                zmin=0,
                zmax=1,
                showscale=False,
                xgap=3,
                ygap=3,
                name=MODE_LABELS[mode],
                hovertemplate="%{y} → %{x}<br>%{customdata}<extra>"
                + MODE_LABELS[mode]
                + "</extra>",
            ),
            row=2,
            col=index,
        )
        fig.update_xaxes(title="destination", side="bottom", row=2, col=index)
        fig.update_yaxes(
            title="source" if index == 1 else None,
            autorange="reversed",
            showticklabels=index == 1,
            row=2,
            col=index,
        )
    total = summary.get("reachable_pairs_all")
    title = "Topology and reachability by networking mode"
    if total is not None:
        title += f" — {total} of {summary.get('pairs_measured')} pairs reached"
    base_layout(fig, title=title, host=host, yaxis_title="")
    fig.update_layout(height=1000, plot_bgcolor="#f1f3f5", margin={"b": 170})
    lines = [
        "Matrices: green, ping and TCP both got through (fastest probe of each pair, ms); "
        "red, neither did; amber, only one did.<br>“as host”: the destination's server saw "
        "the source as the host's address (source NAT rewrote it); hover a cell for the "
        "address."
    ]
    lines += _footnote(samples, summary)
    fig.add_annotation(
        text="<br>".join(lines),
        xref="paper",
        yref="paper",
        x=0,
        y=-0.07,
        yanchor="top",
        xanchor="left",
        align="left",
        showarrow=False,
        font={"size": 12},
    )
    for annotation in fig.layout.annotations:  # the host caption goes below the notes
        if annotation.text.startswith("Measured on"):
            annotation.y = -0.165
    return fig
