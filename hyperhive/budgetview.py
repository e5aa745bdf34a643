"""The dashboard's budgets panel as geometry: one SVG bar per agent, all on one scale.

A bar's track is the agent's limit for today (its budget plus raises), its fill what
it spent; past the limit the fill runs on beyond the track's end, in the warning
colour, and a mark stands at the limit. An agent without a limit (none set, or lifted)
has a fill and no track. The scale is the largest limit or spend of any agent, so the
bars compare at a glance.
"""

from .formats import dollars

BAR_WIDTH = 240         # px of the widest bar
NEAR = 0.8              # of its limit spent: the fill turns amber


def bars(rows, width=BAR_WIDTH):
    """Each budget row (budgets.row) with its bar: track, fill and mark in px, and the
    fill's colour class."""
    scale = max([r["spent_usd"] for r in rows]
                + [r["limit_usd"] for r in rows if r["limit_usd"] is not None] + [0.0])
    return [dict(r, bar=_bar(r, scale, width)) for r in rows]


def _bar(row, scale, width):
    def px(usd):
        return round(usd / scale * width, 1) if scale > 0 else 0.0
    limit, spent = row["limit_usd"], row["spent_usd"]
    if limit is None:
        level = "free"
    elif spent >= limit:
        level = "over"
    elif spent >= NEAR * limit:
        level = "near"
    else:
        level = "ok"
    fill = px(spent)
    return {"width": width, "track": px(limit) if limit is not None else 0.0,
            "fill": max(fill, 1.0) if spent > 0 else 0.0,
            "mark": px(limit) if limit is not None else None, "level": level}


def caption(row):
    """What the bar says in words: spent of the limit, and the operator's raise or lift."""
    if row["budget_usd"] is None:
        return f"{dollars(row['spent_usd'])} spent · no budget"
    if row["lifted"]:
        return f"{dollars(row['spent_usd'])} spent · lifted for today"
    text = f"{dollars(row['spent_usd'])} of {dollars(row['limit_usd'])}"
    if row["raised_usd"]:
        text += f" (raised +{dollars(row['raised_usd'])})"
    return text
