"""A gifting graph as plain SVG geometry: the subject in the middle, the people they gift
with around it, one edge per direction, thicker for more coins. No JavaScript."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Node:
    user_id: int
    label: str
    x: float
    y: float
    subject: bool


@dataclass(frozen=True, slots=True)
class Edge:
    x1: float
    y1: float
    x2: float
    y2: float
    width: float
    coins: int
    title: str
    outgoing: bool


@dataclass(frozen=True, slots=True)
class GiftGraph:
    width: int
    height: int
    nodes: list[Node]
    edges: list[Edge]


def gift_graph(
    subject_id: int,
    subject_label: str,
    others: list[tuple[int, str, int, int]],
    *,
    width: int = 520,
    height: int = 360,
) -> GiftGraph:
    """``others``: (user id, label, coins the subject sent them, coins they sent the subject)."""
    cx, cy = width / 2, height / 2
    radius = min(width, height) / 2 - 40
    heaviest = max((max(sent, received) for _, _, sent, received in others), default=0) or 1
    nodes = [Node(subject_id, subject_label, cx, cy, True)]
    edges: list[Edge] = []
    for index, (user_id, label, sent, received) in enumerate(others):
        angle = 2 * math.pi * index / max(len(others), 1) - math.pi / 2
        x, y = round(cx + radius * math.cos(angle), 1), round(cy + radius * math.sin(angle), 1)
        nodes.append(Node(user_id, label, x, y, False))
        # Two parallel edges, nudged apart so both directions stay visible.
        nx, ny = -math.sin(angle) * 4, math.cos(angle) * 4
        for coins, outgoing in ((sent, True), (received, False)):
            if coins <= 0:
                continue
            sign = 1 if outgoing else -1
            edges.append(
                Edge(
                    x1=round(cx + sign * nx, 1),
                    y1=round(cy + sign * ny, 1),
                    x2=round(x + sign * nx, 1),
                    y2=round(y + sign * ny, 1),
                    width=round(1 + 7 * coins / heaviest, 1),
                    coins=coins,
                    title=(
                        f"{subject_label} gifted {label} {coins} coins"
                        if outgoing
                        else f"{label} gifted {subject_label} {coins} coins"
                    ),
                    outgoing=outgoing,
                )
            )
    return GiftGraph(width=width, height=height, nodes=nodes, edges=edges)
