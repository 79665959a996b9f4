/* The survey results' charts: a bar per score (NPS 0–10, CSAT 1–5) or per option. The data comes from
   the page's <script type="application/json" id="survey-chart-data"> (json_script), because the
   Content Security Policy runs no inline script. */
(function () {
  "use strict";

  var NPS_COLOURS = ["#d6336c", "#d6336c", "#d6336c", "#d6336c", "#d6336c", "#d6336c", "#d6336c",
    "#f59f00", "#f59f00", "#2f9e44", "#2f9e44"];
  var CSAT_COLOURS = ["#d6336c", "#e8590c", "#f59f00", "#66a80f", "#2f9e44"];

  function colour(kind, index) {
    if (kind === "nps") return NPS_COLOURS[index];
    if (kind === "csat") return CSAT_COLOURS[index];
    return "#2f6fdf";
  }

  function draw() {
    var source = document.getElementById("survey-chart-data");
    if (!source || typeof window.echarts === "undefined") return;
    var data = JSON.parse(source.textContent);
    var lang = (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0 ? "ZH" : "EN";
    var charts = [];
    data.charts.forEach(function (spec) {
      var el = document.getElementById(spec.id);
      if (!el) return;
      var horizontal = spec.kind === "single" || spec.kind === "multiple";
      if (horizontal) {
        // A size set through the CSSOM, which the policy allows (a style="" attribute it would refuse).
        el.style.height = Math.max(160, 36 * spec.labels.length + 40) + "px";
      }
      var chart = window.echarts.init(el, null, { locale: lang, renderer: "canvas" });
      var bars = spec.values.map(function (value, index) {
        return { value: value, itemStyle: { color: colour(spec.kind, index) } };
      });
      var category = { type: "category", data: spec.labels, axisLabel: { interval: 0 } };
      var value = { type: "value", minInterval: 1 };
      chart.setOption({
        animation: false,
        tooltip: { trigger: "axis", renderMode: "richText" },
        grid: { left: 8, right: 16, top: 12, bottom: 8, containLabel: true },
        xAxis: horizontal ? value : category,
        yAxis: horizontal ? Object.assign({ inverse: true }, category) : value,
        series: [{ name: data.labels.answers, type: "bar", data: bars, label: { show: true, position: horizontal ? "right" : "top" } }]
      });
      charts.push(chart);
    });
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
