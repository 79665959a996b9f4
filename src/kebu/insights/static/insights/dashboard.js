/* The dashboard's charts. The data comes from the page's <script type="application/json"
   id="dashboard-data"> (json_script), because the Content Security Policy runs no inline script. Every
   mark carries the address of the list it stands for (worked out by the server); a click opens it. Each
   chart saves itself as a PNG from its toolbox, offline. */
(function () {
  "use strict";

  var BLUE = "#2f6fdf", GREEN = "#2f9e44", ORANGE = "#f59f00", GREY = "#868e96";

  function number(value) {
    return value === null || value === undefined ? null : Number(value);
  }

  function grouped(value) {
    return typeof value === "number" ? value.toLocaleString(undefined, { maximumFractionDigits: 2 }) : value;
  }

  // Money always with its two decimals (44,990.20, not 44,990.2), as the figures above the charts.
  function yuan(value) {
    return typeof value === "number"
      ? value.toLocaleString(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 })
      : value;
  }

  function toolbox(labels, name) {
    return { right: 8, feature: { saveAsImage: { title: labels.save, name: name, pixelRatio: 2 } } };
  }

  function opener(urls) {
    return function (params) {
      var url = urls ? urls[params.dataIndex] : params.data && params.data.url;
      if (url) window.location.assign(url);
    };
  }

  // A click anywhere in a day's (week's, month's) column opens its list, not only on the line's dot.
  // With ``offMarks``, only clicks beside the marks (whose own handler opens their list).
  function columnOpener(chart, urls, offMarks) {
    chart.getZr().on("click", function (event) {
      var pixel = [event.offsetX, event.offsetY];
      if ((offMarks && event.target) || !chart.containPixel("grid", pixel)) return;
      var index = Math.round(chart.convertFromPixel({ gridIndex: 0 }, pixel)[0]);
      if (urls[index]) window.location.assign(urls[index]);
    });
  }

  function sized(el, height) {
    // A size set through the CSSOM, which the policy allows (a style="" attribute it would refuse).
    el.style.height = height + "px";
  }

  // The widest of ``texts`` in ECharts' default label font, in pixels.
  function widest(texts) {
    var context = document.createElement("canvas").getContext("2d");
    context.font = "12px sans-serif";
    return texts.reduce(function (most, text) { return Math.max(most, context.measureText(String(text)).width); }, 0);
  }

  function horizontal(el, lang, labels, spec, title, colour, name, format) {
    sized(el, Math.max(180, 30 * spec.labels.length + 60));
    var chart = window.echarts.init(el, null, { locale: lang });
    var values = (spec.values || spec.net).map(number);
    var shown = function (value) { return (format || grouped)(value); };
    chart.setOption({
      animation: false,
      toolbox: toolbox(labels, name),
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      // Room on the right for the amount beside the longest bar, which may end at the axis's end
      // (¥3,000.00 on an axis to 3,000): a fixed margin cut "243,032.73" to "243,032".
      grid: { left: 8, right: Math.ceil(widest(values.map(shown))) + 12, top: 32, bottom: 8, containLabel: true },
      xAxis: { type: "value" },
      yAxis: { type: "category", inverse: true, data: spec.labels, axisLabel: { width: 140, overflow: "truncate" } },
      series: [{
        name: title, type: "bar", itemStyle: { color: colour }, cursor: "pointer",
        data: values,
        label: { show: true, position: "right", formatter: function (p) { return shown(p.value); } }
      }]
    });
    chart.on("click", opener(spec.urls));
    return chart;
  }

  // The lifecycle as a funnel of centred pieces, each as wide as its own stage's count. ECharts' funnel
  // draws a piece from its own count down to the next stage's, and scales counts against 0–100: with
  // stages that do not fall in order, a stage of nobody could be drawn the widest. The label sits beside
  // the shapes in the page's text colour (inside, a narrow stage's label ran past its shape).
  function lifecycleStage(stages) {
    var most = Math.max.apply(null, stages.map(function (s) { return s.value; }).concat([1]));
    var labelWidth = Math.ceil(widest(stages.map(function (s) { return s.name + " " + grouped(s.value); })));
    return function (params, api) {
      var top = 32, bottom = 8, gap = 2, count = stages.length;
      var left = Math.round(api.getWidth() * 0.08);
      var room = Math.max(40, Math.min(api.getWidth() * 0.6, api.getWidth() - left - labelWidth - 32));
      var height = (api.getHeight() - top - bottom - gap * (count - 1)) / count;
      var width = room * api.value(0) / most;
      var x = left + (room - width) / 2, y = top + params.dataIndex * (height + gap);
      var textX = left + room + 16, middle = y + height / 2;
      return {
        type: "group",
        children: [
          { type: "rect", name: "piece", shape: { x: x, y: y, width: width, height: height },
            style: { fill: api.visual("color") } },
          { type: "line", shape: { x1: x + width + 2, y1: middle, x2: textX - 4, y2: middle },
            style: { stroke: api.visual("color"), lineWidth: 1 } },
          { type: "text", x: textX, y: middle,
            style: { text: stages[params.dataIndex].name + " " + grouped(api.value(0)), fill: "#212529",
                     font: "12px sans-serif", verticalAlign: "middle" } }
        ]
      };
    };
  }

  function draw() {
    var source = document.getElementById("dashboard-data");
    if (!source || typeof window.echarts === "undefined") return;
    var data = JSON.parse(source.textContent);
    var labels = data.labels;
    var lang = (document.documentElement.lang || "").toLowerCase().indexOf("zh") === 0 ? "ZH" : "EN";
    var charts = [];
    var el;

    if (data.sales && (el = document.getElementById("chart-sales"))) {
      sized(el, 320);
      var sales = window.echarts.init(el, null, { locale: lang });
      sales.setOption({
        animation: false,
        toolbox: toolbox(labels, "sales"),
        tooltip: { trigger: "axis" },
        legend: { top: 0, left: 0 },
        grid: { left: 8, right: 8, top: 40, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: data.sales.labels },
        yAxis: [{ type: "value" }, { type: "value", minInterval: 1, splitLine: { show: false } }],
        series: [
          { name: labels.net, type: "line", smooth: false, showSymbol: true, symbolSize: 6, cursor: "pointer",
            itemStyle: { color: BLUE }, areaStyle: { opacity: 0.08 }, data: data.sales.net.map(number) },
          { name: labels.orders, type: "bar", yAxisIndex: 1, cursor: "pointer", barMaxWidth: 18,
            itemStyle: { color: GREY, opacity: 0.35 }, data: data.sales.orders }
        ]
      });
      columnOpener(sales, data.sales.urls, false);
      charts.push(sales);
    }

    if (data.channels && (el = document.getElementById("chart-channels"))) {
      sized(el, 300);
      var channels = window.echarts.init(el, null, { locale: lang });
      channels.setOption({
        animation: false,
        toolbox: toolbox(labels, "channels"),
        tooltip: { trigger: "item", formatter: function (p) { return p.name + ": ¥" + yuan(p.value) + " (" + p.percent + "%)"; } },
        legend: { type: "scroll", bottom: 0 },
        series: [{
          name: labels.net, type: "pie", radius: ["35%", "65%"], top: 24, bottom: 32, cursor: "pointer",
          data: data.channels.map(function (s) { return { name: s.name, value: number(s.value), url: s.url }; })
        }]
      });
      channels.on("click", opener(null));
      charts.push(channels);
    }

    if (data.categories && (el = document.getElementById("chart-categories"))) {
      charts.push(horizontal(el, lang, labels, data.categories, labels.net, BLUE, "categories", yuan));
    }

    if (data.customers && (el = document.getElementById("chart-customers"))) {
      sized(el, 300);
      var customers = window.echarts.init(el, null, { locale: lang });
      customers.setOption({
        animation: false,
        toolbox: toolbox(labels, "customers"),
        tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
        legend: { top: 0, left: 0 },
        grid: { left: 8, right: 8, top: 40, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: data.customers.labels },
        yAxis: { type: "value", minInterval: 1 },
        series: [
          { name: labels.new, type: "bar", stack: "customers", cursor: "pointer", itemStyle: { color: GREEN }, data: data.customers.new },
          { name: labels.returning, type: "bar", stack: "customers", cursor: "pointer", itemStyle: { color: ORANGE }, data: data.customers.returning }
        ]
      });
      customers.on("click", function (params) {
        var urls = params.seriesIndex === 0 ? data.customers.new_urls : data.customers.returning_urls;
        if (urls[params.dataIndex]) window.location.assign(urls[params.dataIndex]);
      });
      // Off the bars, a column opens the period's orders.
      columnOpener(customers, data.customers.returning_urls, true);
      charts.push(customers);
    }

    if (data.top_customers && (el = document.getElementById("chart-top-customers"))) {
      charts.push(horizontal(el, lang, labels, data.top_customers, labels.net, BLUE, "top-customers", yuan));
    }
    if (data.top_products && (el = document.getElementById("chart-top-products"))) {
      charts.push(horizontal(el, lang, labels, data.top_products, labels.net, GREEN, "top-products", yuan));
    }
    if (data.provinces && (el = document.getElementById("chart-provinces"))) {
      charts.push(horizontal(el, lang, labels, data.provinces, labels.customers, BLUE, "provinces"));
    }

    if (data.funnel && (el = document.getElementById("chart-funnel"))) {
      sized(el, 300);
      var funnel = window.echarts.init(el, null, { locale: lang });
      funnel.setOption({
        animation: false,
        toolbox: toolbox(labels, "lifecycle"),
        tooltip: { trigger: "item", formatter: function (p) { return p.name + ": " + grouped(p.value); } },
        series: [{
          name: labels.customers, type: "custom", coordinateSystem: "none", colorBy: "data", cursor: "pointer",
          renderItem: lifecycleStage(data.funnel),
          data: data.funnel.map(function (s) { return { name: s.name, value: s.value, url: s.url }; })
        }]
      });
      funnel.on("click", opener(null));
      charts.push(funnel);
    }

    window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });
  }

  // Typing a date means choosing the dates: the preset list follows, so the form sends what is shown.
  function followDates() {
    var form = document.getElementById("dashboard-filters");
    if (!form) return;
    var preset = form.querySelector("[name=preset]");
    form.querySelectorAll("input[type=date]").forEach(function (input) {
      input.addEventListener("change", function () { if (preset) preset.value = "custom"; });
    });
  }

  function start() {
    followDates();
    draw();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
