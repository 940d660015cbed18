"""The page's look: the colours of the themes and the charts, and its one inline style
sheet (no font or anything else fetched)."""

from __future__ import annotations

from bot.exports.counts import NO_THEME
from bot.themes import catalogue

# Paul Tol's "muted" scheme (colour-blind safe), one per theme in catalogue order.
PALETTE = (
    "#4477AA", "#CC6677", "#117733", "#DDCC77", "#88CCEE",
    "#882255", "#44AA99", "#999933", "#AA4499", "#332288",
)  # fmt: skip
NO_THEME_COLOUR = "#BBBBBB"
DASH = "\u2013"
INK, MUTED, GRID = "#1f2a37", "#5b6776", "#e3e7ec"

CSS = """
:root { --ink: #1f2a37; --muted: #5b6776; --line: #dfe3e8; --soft: #f4f6f8;
  --brand: #1e3a5f; --accent: #2f6690; --told: #2f6690; --spoke: #c9d6e3; }
* { box-sizing: border-box; }
html { background: #e9edf1; }
body { margin: 0; color: var(--ink); font: .9375rem/1.55 system-ui, -apple-system, "Segoe UI",
  Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif; -webkit-font-smoothing: antialiased; }
.page { max-width: 64rem; margin: 0 auto; background: #fff; box-shadow: 0 1px 3px #0002; }
header.masthead { background: var(--brand); color: #fff; padding: 2rem 2.5rem 1.75rem; }
.masthead .org { margin: 0; font-size: .8rem; letter-spacing: .12em; text-transform: uppercase;
  opacity: .85; font-weight: 600; }
.masthead h1 { margin: .3rem 0 .4rem; font-size: 2rem; line-height: 1.2; font-weight: 650; }
.masthead .period { margin: 0; font-size: 1.05rem; opacity: .95; }
.masthead .filters { margin: .5rem 0 0; font-size: .85rem; opacity: .85; }
main { padding: .5rem 2.5rem 2rem; }
section { padding: 1.75rem 0 .75rem; border-bottom: 1px solid var(--line); }
section:last-of-type { border-bottom: 0; }
h2 { margin: 0 0 .25rem; font-size: 1.3rem; line-height: 1.3; color: var(--brand);
  font-weight: 650; }
h2 .n { display: inline-block; min-width: 1.6rem; color: var(--muted); font-weight: 500; }
.lede { margin: 0 0 1rem; color: var(--muted); max-width: 46rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(11rem, 1fr)); gap: 1rem;
  margin: .5rem 0 .75rem; }
.tile { background: var(--soft); border-radius: 6px; padding: .9rem 1.1rem;
  border-top: 3px solid var(--accent); }
.tile .value { display: block; font-size: 1.9rem; font-weight: 650; line-height: 1.2;
  font-variant-numeric: tabular-nums; }
.tile .what { color: var(--muted); font-size: .9rem; }
.tile.period .value { font-size: 1.05rem; padding: .45rem 0 .4rem; white-space: nowrap; }
figure { margin: .25rem 0 1rem; }
figure svg { display: block; width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: .85rem; margin-top: .25rem; }
.legend { list-style: none; margin: .5rem 0 0; padding: 0; display: flex; flex-wrap: wrap;
  gap: .3rem 1.1rem; font-size: .85rem; color: var(--ink); }
.legend li { display: inline-flex; align-items: center; gap: .4rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; border-radius: 2px; flex: none; }
.swatch.hidden-cells {
  background: repeating-linear-gradient(135deg, #c4cad1 0 2px, #eef0f3 2px 5px); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: .25rem 0 1rem; font-size: .9rem; }
caption { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
tbody th { white-space: nowrap; font-weight: 600; }
th, td { padding: .45rem .6rem; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
thead th { font-size: .78rem; text-transform: uppercase; letter-spacing: .04em;
  color: var(--muted); font-weight: 600; border-bottom: 2px solid #c9d0d8; vertical-align: bottom; }
tbody tr:nth-child(even) { background: #fafbfc; }
tfoot td, tfoot th { font-weight: 650; border-top: 2px solid #c9d0d8; border-bottom: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.zero { color: #a3acb7; }
.star { color: var(--muted); }
.muted { color: var(--muted); }
.meta { display: block; color: var(--muted); font-size: .8rem; margin-top: .15rem; }
.tag { display: inline-block; background: #e8eef4; color: #2b4a6b; border-radius: 3px;
  padding: 0 .4rem; margin: .15rem .25rem 0 0; font-size: .75rem; }
.tag.coming { background: #fbf1dc; color: #7a5410; }
.chips { display: flex; flex-wrap: wrap; gap: .35rem .5rem; }
.chip { display: inline-flex; align-items: center; gap: .35rem; background: var(--soft);
  border: 1px solid var(--line); border-radius: 999px; padding: .05rem .6rem .05rem .5rem;
  font-size: .85rem; white-space: nowrap; }
.chip b { font-weight: 650; font-variant-numeric: tabular-nums; }
.bar { display: inline-block; height: .5rem; background: var(--spoke); border-radius: 2px;
  vertical-align: middle; margin-right: .45rem; }
.question { font-weight: 600; }
.empty { color: var(--muted); font-style: italic; margin: .25rem 0 1rem; }
.about { font-size: .85rem; color: var(--muted); }
.about h2 { font-size: 1.05rem; }
.about dl { display: grid; grid-template-columns: 2.5rem 1fr; gap: .35rem .5rem; margin: .5rem 0; }
.about dt { font-weight: 700; color: var(--ink); text-align: center; }
.about dd { margin: 0; }
footer { padding: 1rem 2.5rem 1.5rem; color: var(--muted); font-size: .8rem;
  border-top: 1px solid var(--line); display: flex; justify-content: space-between; gap: 1rem;
  flex-wrap: wrap; }
@media (max-width: 40rem) {
  header.masthead, main, footer { padding-left: 1rem; padding-right: 1rem; }
  .masthead h1 { font-size: 1.6rem; }
}
@media print {
  @page { size: A4; margin: 12mm 12mm 14mm; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  html { background: #fff; font-size: 11.5px; }
  .page { box-shadow: none; max-width: none; }
  header.masthead { padding: 1.25rem 1.5rem; border-radius: 4px; }
  main, footer { padding-left: 0; padding-right: 0; }
  .scroll { overflow: visible; }
  figure, tr, .tile, section.about, footer { break-inside: avoid; }
  h2, .lede { break-after: avoid; }
}
"""


def theme_colours() -> dict[str, str]:
    keys = [t.key for t in catalogue()]
    colours = {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(keys)}
    return colours | {NO_THEME: NO_THEME_COLOUR}
