/* The customer clusters' charts: the silhouette for each number of clusters tried (the chosen one
   highlighted) and each cluster's spend by category as stacked bars. The data comes from the page's
   <script type="application/json" id="clusters-chart-data"> (json_script), because the Content Security
   Policy runs no inline script. */
(function () {
  "use strict";

  var PALETTE = ["#2f6fdf", "#2f9e44", "#f59f00", "#d6336c", "#7048e8", "#1098ad", "#e8590c", "#66a80f",
    "#868e96"];

  function init(el, height) {
    // A size set through the CSSOM, which the policy allows (a style="" attribute it would refuse).
    el.style.height = height + "px";
    var lang = (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0 ? "ZH" : "EN";
    return window.echarts.init(el, null, { locale: lang, renderer: "canvas" });
  }

  function draw() {
    var source = document.getElementById("clusters-chart-data");
    if (!source || typeof window.echarts === "undefined") return;
    var data = JSON.parse(source.textContent);
    if (!data) return;
    var charts = [];

    var silhouetteEl = document.getElementById("clusters-silhouette-chart");
    if (silhouetteEl && data.silhouette.k.length) {
      var chart = init(silhouetteEl, 230);
      chart.setOption({
        animation: false,
        tooltip: { trigger: "axis", renderMode: "richText" },
        grid: { left: 8, right: 16, top: 24, bottom: 28, containLabel: true },
        xAxis: { type: "category", name: data.labels.k, nameLocation: "middle", nameGap: 26,
          data: data.silhouette.k.map(String) },
        yAxis: { type: "value", name: data.labels.silhouette },
        series: [{
          name: data.labels.silhouette,
          type: "bar",
          data: data.silhouette.k.map(function (k, i) {
            return { value: data.silhouette.score[i],
              itemStyle: { color: k === data.silhouette.chosen ? "#2f9e44" : "#adb5bd" } };
          }),
          label: { show: true, position: "top", formatter: function (p) { return p.value.toFixed(2); } }
        }]
      });
      charts.push(chart);
    }

    var mixEl = document.getElementById("clusters-mix-chart");
    if (mixEl && data.mix.length) {
      var mix = init(mixEl, Math.max(220, 44 * data.clusters.length + 80));
      mix.setOption({
        animation: false,
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" }, renderMode: "richText" },
        legend: { type: "scroll", bottom: 0 },
        grid: { left: 8, right: 16, top: 8, bottom: 36, containLabel: true },
        xAxis: { type: "value", max: 100, name: data.labels.mix },
        yAxis: { type: "category", inverse: true, data: data.clusters },
        series: data.mix.map(function (category, i) {
          return { name: category.name, type: "bar", stack: "mix", data: category.values,
            itemStyle: { color: PALETTE[i % PALETTE.length] } };
        })
      });
      charts.push(mix);
    }
    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
