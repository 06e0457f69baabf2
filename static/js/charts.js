// Draw every [data-chart] element from the figure JSON that sits next to it
// (a json_script element), on page load and after each htmx swap.
"use strict";

function drawCharts(root) {
  if (typeof Plotly === "undefined" || !root.querySelectorAll) return;
  root.querySelectorAll("[data-chart]").forEach((element) => {
    const source = document.getElementById(element.dataset.chart);
    if (!source) return;
    const figure = JSON.parse(source.textContent);
    Plotly.react(element, figure.data, figure.layout, {
      responsive: true,
      displaylogo: false,
      modeBarButtonsToRemove: ["sendDataToCloud"],
    });
  });
}

document.addEventListener("DOMContentLoaded", () => drawCharts(document));
document.addEventListener("htmx:afterSettle", (event) => drawCharts(event.detail.elt));
