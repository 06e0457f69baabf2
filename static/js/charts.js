// Draw every [data-chart] element from the figure JSON that sits next to it
// (a json_script element), on page load, after each htmx swap, and again when the
// window changes between a phone's width and a wider one.
//
// The figures are laid out for a laptop screen. On a narrow screen (a phone) a chart
// is laid out again here: panels side by side are stacked one under the other at the
// full width, the title wraps, and the legend gets rows of its own under the title.
// Nothing is dropped from the data: hovering or tapping still shows every value, and
// the table under the chart has the same numbers. At every width the host's facts are
// said once, by the caption under the chart (see config for downloads).
"use strict";

const NARROW_PX = 600; // a chart narrower than this gets the phone layout
const PANEL_PX = 260; // height of each stacked panel's plot area on a phone
const GAP_PX = 100; // between stacked panels: axis labels above, the next panel's title
const TITLE_FONT_PX = 15;
const MARGIN_LEFT = 56;
const MARGIN_RIGHT = 14;
const TITLE_LINE_PX = 19; // plotly's line height for that font
const CHAR_PX = 8.2; // average width of a character of the title font, for wrapping

const charts = new Map(); // element -> {figure, width it was laid out for}

function copy(value) {
  return JSON.parse(JSON.stringify(value));
}

function isProvenance(annotation) {
  return annotation.xref === "paper" && typeof annotation.text === "string"
    && annotation.text.startsWith("Measured on:");
}

// Wrap text at spaces (never inside an HTML tag) so no line is longer than maxChars
// visible characters; existing <br> line breaks are kept.
function wrap(text, maxChars) {
  return String(text).split(/<br\s*\/?>/i).map((line) => {
    const words = line.split(/ (?![^<]*>)/);
    const lines = [];
    let current = "";
    for (const word of words) {
      const candidate = current ? `${current} ${word}` : word;
      if (current && candidate.replace(/<[^>]*>/g, "").length > maxChars) {
        lines.push(current);
        current = word;
      } else {
        current = candidate;
      }
    }
    lines.push(current);
    return lines.join("<br>");
  }).join("<br>");
}

function lineCount(text) {
  return String(text).split(/<br\s*\/?>/i).length;
}

// The figure's subplots as pairs of axes with their domains, top row first.
function subplots(layout) {
  const found = [];
  const xKeys = Object.keys(layout).filter((key) => /^xaxis\d*$/.test(key));
  if (!xKeys.length) xKeys.push("xaxis");
  for (const xKey of xKeys) {
    const xAxis = layout[xKey] || {};
    if (xAxis.overlaying) continue;
    const anchor = xAxis.anchor && xAxis.anchor !== "free" ? xAxis.anchor : "y";
    const yKey = `yaxis${anchor.slice(1)}`;
    const yAxis = layout[yKey] || {};
    found.push({
      xKey, yKey,
      x: xAxis.domain || [0, 1],
      y: yAxis.domain || [0, 1],
      xTitled: Boolean(xAxis.title && xAxis.title.text) && xAxis.visible !== false,
    });
  }
  found.sort((a, b) => (b.y[1] - a.y[1]) || (a.x[0] - b.x[0]));
  return found;
}

// The category labels along an x axis ("xaxis2"), in the order the traces give them.
function categoriesOn(data, xKey) {
  const ref = `x${xKey.slice(5)}`;
  const seen = [];
  for (const trace of data) {
    if ((trace.xaxis || "x") !== ref || !Array.isArray(trace.x) || trace.orientation === "h") continue;
    for (const value of trace.x) {
      if (typeof value !== "string") return [];
      if (!seen.includes(value)) seen.push(value);
    }
  }
  return seen;
}

function near(a, b) {
  return Math.abs(a - b) < 0.005;
}

// The layout of a figure on a narrow screen; `drawn` holds the heights of the title
// and the legend as a first drawing measured them (see measure), zero before that.
function narrowLayout(figure, width, drawn) {
  const top = Math.ceil(8 + drawn.title + (drawn.legend ? 6 + drawn.legend : 0) + 12);
  const layout = copy(figure.layout || {});
  const original = figure.layout || {};
  const margin = original.margin || {};
  const originalHeight = original.height || 450;
  const originalPlot = originalHeight - (margin.t ?? 100) - (margin.b ?? 80);
  const panels = subplots(layout);
  const stacked = panels.length > 1;
  const maxChars = Math.max(20, Math.floor((width - 28) / CHAR_PX));
  const plotWidth = width - MARGIN_LEFT - MARGIN_RIGHT;

  // Annotations: subplot titles follow their panel, the host facts go (the caption
  // under the chart has them), notes below the plot keep their distance from it.
  const annotations = [];
  const titles = new Map();
  const below = [];
  for (const annotation of layout.annotations || []) {
    if (isProvenance(annotation)) continue;
    if (annotation.xref === "paper" && annotation.yref === "paper") {
      const panel = panels.find((p) => near(annotation.y, p.y[1])
        && near(annotation.x, (p.x[0] + p.x[1]) / 2) && annotation.yanchor === "bottom");
      if (panel) {
        annotation.font = {...(annotation.font || {}), size: 14};
        annotation.text = wrap(annotation.text, Math.floor(plotWidth / 7.6));
        titles.set(panel, annotation);
      } else if (annotation.y < 0) {
        // A note under the plot starts at the chart's left edge and wraps at its right.
        const size = (annotation.font && annotation.font.size) || 12;
        annotation.text = wrap(annotation.text, Math.floor((width - 24) / (size * 0.6)));
        Object.assign(annotation, {x: 0, xanchor: "left", xshift: 8 - MARGIN_LEFT});
        below.push({annotation, offset: -annotation.y * originalPlot});
      }
    }
    annotations.push(annotation);
  }
  // A panel's title of two or more lines needs room above its plot.
  const titleRoom = (panel) => (titles.has(panel) ? 8 + 18 * lineCount(titles.get(panel).text) : 0);

  let bottom = 70;
  for (const {annotation, offset} of below) {
    bottom = Math.max(bottom, offset + 15 * lineCount(annotation.text) + 16);
  }

  let plotHeight;
  if (stacked) {
    const extra = panels.slice(1).reduce((sum, panel) => sum + titleRoom(panel), 0);
    plotHeight = panels.length * PANEL_PX + (panels.length - 1) * GAP_PX + extra;
    let y = plotHeight; // pixels from the bottom of the plot area, going down
    panels.forEach((panel, index) => {
      if (index > 0) y -= GAP_PX + titleRoom(panel);
      const domain = [(y - PANEL_PX) / plotHeight, y / plotHeight];
      layout[panel.xKey] = {...(layout[panel.xKey] || {}), domain: [0, 1]};
      // A panel that shared its row labels with its left neighbour has its own now.
      layout[panel.yKey] = {...(layout[panel.yKey] || {}), domain, showticklabels: true};
      const title = titles.get(panel);
      if (title) Object.assign(title, {x: 0.5, y: domain[1], xanchor: "center"});
      y -= PANEL_PX;
    });
  } else {
    plotHeight = Math.max(PANEL_PX, originalPlot);
  }
  for (const {annotation, offset} of below) annotation.y = -offset / plotHeight;

  // Axis titles wrap to the panel; category labels wrap under their tick instead of
  // being turned on their side (which pushes the whole chart narrower).
  const panelHeight = stacked ? PANEL_PX : plotHeight;
  for (const panel of panels) {
    const xAxis = (layout[panel.xKey] = layout[panel.xKey] || {});
    const yAxis = (layout[panel.yKey] = layout[panel.yKey] || {});
    if (xAxis.title && xAxis.title.text) xAxis.title = {...xAxis.title, text: wrap(xAxis.title.text, Math.floor(plotWidth / 7.5))};
    if (typeof xAxis.title === "string") xAxis.title = {text: wrap(xAxis.title, Math.floor(plotWidth / 7.5))};
    if (yAxis.title && yAxis.title.text) yAxis.title = {...yAxis.title, text: wrap(yAxis.title.text, Math.floor(panelHeight / 7.5))};
    if (typeof yAxis.title === "string") yAxis.title = {text: wrap(yAxis.title, Math.floor(panelHeight / 7.5))};
    const categories = categoriesOn(figure.data || [], panel.xKey);
    if (categories.length && xAxis.visible !== false && !xAxis.tickvals) {
      const chars = Math.max(6, Math.floor(plotWidth / categories.length / 6.8));
      Object.assign(xAxis, {
        tickmode: "array", tickvals: categories, tickangle: 0,
        ticktext: categories.map((category) => wrap(category, chars)),
      });
    }
  }

  const firstTitle = panels.length ? titleRoom(panels[0]) : 0;
  const height = Math.round(top + firstTitle + plotHeight + bottom);
  layout.height = height;
  layout.annotations = annotations;
  layout.margin = {...margin, l: MARGIN_LEFT, r: MARGIN_RIGHT, t: top + firstTitle, b: bottom};
  const title = typeof layout.title === "string" ? {text: layout.title} : (layout.title || {});
  if (title.text) {
    const text = wrap(title.text, maxChars);
    // plotly centres a title of several lines on where one line would sit: move it
    // down by half the extra lines so its first line starts 8 px from the top.
    const shift = 8 + ((lineCount(text) - 1) * TITLE_LINE_PX) / 2;
    layout.title = {
      ...title,
      text,
      x: 0.02, xanchor: "left", xref: "container",
      y: 1 - shift / height, yanchor: "top", yref: "container",
      font: {...(title.font || {}), size: TITLE_FONT_PX},
    };
  }
  layout.legend = {
    ...(layout.legend || {}),
    orientation: "h",
    x: 0, xanchor: "left", xref: "container",
    y: 1 - (8 + drawn.title + 6) / height, yanchor: "top", yref: "container",
  };
  layout.autosize = true;
  delete layout.width;
  return layout;
}

// The heights of the title and the legend as drawn.
function measure(element) {
  const height = (selector) => {
    const node = element.querySelector(selector);
    return node ? node.getBoundingClientRect().height : 0;
  };
  return {title: height(".g-gtitle"), legend: height(".legend")};
}

// The host's facts are the caption under the chart, so the drawing on the page leaves
// them out; a downloaded PNG has no caption, so it is the figure as the lab made it,
// host facts included, at a laptop's width whatever the screen.
const DOWNLOAD_WIDTH = 1100;

function config(figure) {
  return {
    responsive: true,
    displaylogo: false,
    modeBarButtonsToRemove: ["sendDataToCloud", "toImage"],
    modeBarButtonsToAdd: [{
      name: "download",
      title: "Download as a PNG (with the host's facts)",
      icon: Plotly.Icons.camera,
      click: () => Plotly.downloadImage(
        {data: copy(figure.data), layout: copy(figure.layout)},
        {format: "png", width: DOWNLOAD_WIDTH, height: (figure.layout || {}).height || 450,
          filename: "virtlab-chart"},
      ),
    }],
  };
}

function wideLayout(figure) {
  const layout = copy(figure.layout || {});
  layout.annotations = (layout.annotations || []).filter((a) => !isProvenance(a));
  return layout;
}

function draw(element, figure) {
  const width = element.clientWidth || element.parentNode.clientWidth || window.innerWidth;
  const narrow = width < NARROW_PX;
  charts.set(element, {figure, width});
  if (!narrow) {
    return Plotly.react(element, copy(figure.data), wideLayout(figure), config(figure))
      .then(() => element.setAttribute("data-layout", "wide"));
  }
  // A first drawing measures the title and legend as they wrap at this width; the
  // second gives them exactly the room they need above the plot.
  const first = narrowLayout(figure, width, {title: 40, legend: 60});
  return Plotly.react(element, copy(figure.data), first, config(figure))
    .then(() => {
      const layout = narrowLayout(figure, width, measure(element));
      return Plotly.react(element, copy(figure.data), layout, config(figure));
    })
    .then(() => element.setAttribute("data-layout", "narrow"));
}

function drawCharts(root) {
  if (typeof Plotly === "undefined" || !root.querySelectorAll) return;
  root.querySelectorAll("[data-chart]").forEach((element) => {
    const source = document.getElementById(element.dataset.chart);
    if (!source) return;
    element.removeAttribute("data-layout");
    draw(element, JSON.parse(source.textContent));
  });
}

// Turning a phone, or resizing a window across the width: lay the chart out again.
let resizing = null;
window.addEventListener("resize", () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => {
    charts.forEach(({figure, width}, element) => {
      if (!element.isConnected) {
        charts.delete(element);
        return;
      }
      // A phone's address bar coming and going resizes the window too: only a new
      // width matters, and only to a narrow chart (a wide one is plotly's to resize).
      const now = element.clientWidth;
      const narrow = width < NARROW_PX;
      if (now !== width && (narrow || now < NARROW_PX)) draw(element, figure);
    });
  }, 250);
});

document.addEventListener("DOMContentLoaded", () => drawCharts(document));
document.addEventListener("htmx:afterSettle", (event) => drawCharts(event.detail.elt));
