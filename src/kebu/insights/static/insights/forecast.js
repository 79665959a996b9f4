/* The sales forecast's chart: the history, the forecast line and its likely range as a shaded band (a
   transparent "lower" line with the band's height stacked on it). The data comes from the page's
   <script type="application/json" id="forecast-chart-data"> (json_script), because the Content Security
   Policy runs no inline script. */
(function () {
  "use strict";

  function pad(count) {
    var out = [];
    for (var i = 0; i < count; i++) out.push(null);
    return out;
  }

  function format(value, money) {
    if (value === null || value === undefined || isNaN(value)) return "—";
    return money
      ? "¥" + Number(value).toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })
      : Number(value).toLocaleString(undefined, { maximumFractionDigits: 1 });
  }

  function draw() {
    var el = document.getElementById("forecast-chart");
    var source = document.getElementById("forecast-chart-data");
    if (!el || !source || typeof window.echarts === "undefined") return;
    var data = JSON.parse(source.textContent);
    // A size set through the CSSOM, which the policy allows (a style="" attribute it would refuse).
    el.style.height = window.matchMedia("(max-width: 576px)").matches ? "280px" : "380px";
    var lang = (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0 ? "ZH" : "EN";
    var chart = window.echarts.init(el, null, { locale: lang, renderer: "canvas" });

    var history = data.history.values, ahead = data.forecast;
    var n = history.length, h = ahead.mean.length;
    var labels = data.history.labels.concat(ahead.labels);
    var last = n ? history[n - 1] : null;
    // The forecast and its band start from the last actual figure, so the lines join.
    var mean = pad(n - 1).concat([last], ahead.mean);
    var lower = pad(n - 1).concat([last], ahead.lower);
    var band = pad(n - 1).concat([0], ahead.upper.map(function (u, i) { return u - ahead.lower[i]; }));
    var actual = history.concat(pad(h));

    chart.setOption({
      animation: false,
      // Drawn on the canvas, not as HTML: the policy refuses the inline styles of HTML tooltips.
      tooltip: {
        trigger: "axis",
        renderMode: "richText",
        formatter: function (items) {
          var i = items.length ? items[0].dataIndex : 0;
          var lines = [labels[i]];
          if (i < n) {
            lines.push(data.labels.history + ": " + format(history[i], data.money));
          } else {
            var j = i - n;
            lines.push(data.labels.forecast + ": " + format(ahead.mean[j], data.money));
            lines.push(data.labels.interval + ": " + format(ahead.lower[j], data.money) + " – " + format(ahead.upper[j], data.money));
            if (ahead.events[j]) lines.push(ahead.events[j]);
          }
          return lines.join("\n");
        }
      },
      legend: { top: 0, data: [data.labels.history, data.labels.forecast, data.labels.interval] },
      grid: { left: 8, right: 16, top: 36, bottom: 48, containLabel: true },
      xAxis: { type: "category", data: labels, boundaryGap: false },
      yAxis: { type: "value", name: data.labels.metric, nameTextStyle: { align: "left" }, min: 0 },
      dataZoom: [
        { type: "inside", startValue: Math.max(0, labels.length - data.window) },
        { type: "slider", startValue: Math.max(0, labels.length - data.window), height: 20, bottom: 8 }
      ],
      series: [
        { name: data.labels.history, type: "line", data: actual, symbol: "none", lineStyle: { width: 2 }, color: "#2f6fdf" },
        { name: "lower", type: "line", data: lower, stack: "interval", symbol: "none", lineStyle: { opacity: 0 }, silent: true, tooltip: { show: false } },
        { name: data.labels.interval, type: "line", data: band, stack: "interval", symbol: "none", lineStyle: { opacity: 0 }, areaStyle: { color: "rgba(245, 159, 0, 0.25)" }, color: "rgba(245, 159, 0, 0.5)", silent: true },
        { name: data.labels.forecast, type: "line", data: mean, symbol: "circle", symbolSize: 4, lineStyle: { width: 2, type: "dashed" }, color: "#e8590c" }
      ]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
