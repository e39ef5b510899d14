"""Server-side SVG charts (inline in the page: no JavaScript, no CDN)."""

from __future__ import annotations

import datetime as dt

from markupsafe import Markup, escape

PALETTE = ("#0b5cad", "#f79009", "#12b76a", "#d92d20", "#7a5af8", "#06aed4", "#ee46bc", "#667085")


def _svg(width: int, height: int, label: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(label)}" font-size="12">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>")


def hbar_chart(items: list[tuple[str, int]], label: str, width: int = 520) -> Markup:
    """Horizontal bars, one per (name, value), longest first as given."""
    if not items:
        return Markup('<p class="muted">暂无数据</p>')
    row, left = 24, 170
    height = row * len(items) + 10
    top = max(v for _, v in items) or 1
    body = []
    for i, (name, value) in enumerate(items):
        y = 5 + i * row
        w = int((width - left - 50) * value / top)
        short = name if len(name) <= 12 else name[:11] + "…"
        body.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end">{escape(short)}</text>'
                    f'<rect x="{left}" y="{y + 3}" width="{max(w, 1)}" height="{row - 8}" fill="{PALETTE[0]}">'
                    f"<title>{escape(name)}：{value}</title></rect>"
                    f'<text x="{left + w + 6}" y="{y + 15}">{value}</text>')
    return _svg(width, height, label, body)


def day_chart(days: list[dt.date], series: dict[str, list[int]], label: str, width: int = 620,
              height: int = 220) -> Markup:
    """Stacked columns per day, one colour per series, with a legend."""
    if not series or not any(any(v) for v in series.values()):
        return Markup('<p class="muted">暂无数据</p>')
    left, bottom, top_pad = 36, 40, 10
    legend_h = 18 * ((len(series) + 3) // 4)
    plot_h = height - bottom - top_pad
    totals = [sum(vals[i] for vals in series.values()) for i in range(len(days))]
    peak = max(totals) or 1
    col = (width - left - 10) / max(len(days), 1)
    body = [f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - 5}" y2="{top_pad + plot_h}" stroke="#9fb3c8"/>',
            f'<text x="{left - 4}" y="{top_pad + 10}" text-anchor="end">{peak}</text>',
            f'<text x="{left - 4}" y="{top_pad + plot_h}" text-anchor="end">0</text>']
    for i, day in enumerate(days):
        x = left + i * col + col * 0.15
        base: float = top_pad + plot_h
        for s_index, (name, vals) in enumerate(series.items()):
            value = vals[i]
            if not value:
                continue
            h = plot_h * value / peak
            base -= h
            body.append(f'<rect x="{x:.1f}" y="{base:.1f}" width="{col * 0.7:.1f}" height="{h:.1f}" '
                        f'fill="{PALETTE[s_index % len(PALETTE)]}"><title>{day:%m-%d} {escape(name)}：{value}'
                        f"</title></rect>")
        if len(days) <= 16 or i % 2 == 0:
            body.append(f'<text x="{x + col * 0.35:.1f}" y="{top_pad + plot_h + 14}" text-anchor="middle" '
                        f'font-size="10">{day:%m-%d}</text>')
    for s_index, name in enumerate(series):
        lx = left + (s_index % 4) * 140
        ly = top_pad + plot_h + 24 + (s_index // 4) * 18
        body.append(f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{PALETTE[s_index % len(PALETTE)]}"/>'
                    f'<text x="{lx + 14}" y="{ly + 9}">{escape(name)}（{sum(series[name])}）</text>')
    return _svg(width, top_pad + plot_h + 28 + legend_h, label, body)
