/* The sales summary's chart: net sales per month stacked by channel (bars) and orders (a line).
   Its data comes from the page's <script type="application/json" id="sales-chart-data"> (json_script),
   because the Content Security Policy runs no inline script. Amounts arrive as decimal strings. */
(function () {
  "use strict";

  function draw() {
    var el = document.getElementById("sales-chart");
    var source = document.getElementById("sales-chart-data");
    if (!el || !source || typeof window.echarts === "undefined") return;
    var data = JSON.parse(source.textContent);
    // A size set through the CSSOM, which the policy allows (a style="" attribute it would refuse).
    el.style.height = window.matchMedia("(max-width: 576px)").matches ? "260px" : "340px";
    var lang = (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0 ? "ZH" : "EN";
    var chart = window.echarts.init(el, null, { locale: lang, renderer: "canvas" });
    var series = data.channels.map(function (channel) {
      return {
        name: channel.name,
        type: "bar",
        stack: "net",
        emphasis: { focus: "series" },
        data: channel.net.map(Number)
      };
    });
    series.push({
      name: data.labels.orders,
      type: "line",
      yAxisIndex: 1,
      smooth: true,
      symbolSize: 6,
      data: data.orders
    });
    chart.setOption({
      animation: false,
      // Drawn on the canvas, not as HTML: the policy refuses the inline styles of HTML tooltips.
      tooltip: { trigger: "axis", renderMode: "richText" },
      legend: { type: "scroll", top: 0 },
      grid: { left: 8, right: 8, top: 36, bottom: 8, containLabel: true },
      xAxis: { type: "category", data: data.months },
      yAxis: [
        { type: "value", name: data.labels.net, nameTextStyle: { align: "left" } },
        { type: "value", name: data.labels.orders, minInterval: 1, splitLine: { show: false } }
      ],
      series: series
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
