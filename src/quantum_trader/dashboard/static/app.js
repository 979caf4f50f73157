// The dashboard's browser side: one live stream of topics, fragments re-read by htmx on
// the topics they show, charts drawn with lightweight-charts. No inline scripts (CSP).
(function () {
  "use strict";
  var TOPICS = ["positions", "orders", "results", "risk", "services", "bars", "events",
                "dead", "audit", "journal", "overview"];
  var source = null;
  var charts = {};

  function connect() {
    if (source || !document.body.dataset.role) return;
    source = new EventSource("/live");
    source.addEventListener("hello", function () { document.body.dataset.live = "on"; });
    TOPICS.forEach(function (topic) {
      source.addEventListener(topic, function (ev) {
        var detail = {};
        try { detail = JSON.parse(ev.data); } catch (e) { /* keep-alive */ }
        window.qtLastTopic = { topic: topic, at: performance.now(), detail: detail };
        document.body.dispatchEvent(new CustomEvent("qt:" + topic, { detail: detail }));
      });
    });
    source.onerror = function () { document.body.dataset.live = "off"; };
  }

  function json(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { window.location = "/login"; throw new Error("login"); }
        return r.json();
      });
  }

  function theme() {
    return { layout: { background: { color: "#11151c" }, textColor: "#c8d0dc" },
             grid: { vertLines: { color: "#1e2530" }, horzLines: { color: "#1e2530" } },
             timeScale: { timeVisible: true, secondsVisible: false }, autoSize: true };
  }

  function candleChart(el) {
    var LC = window.LightweightCharts;
    var chart = LC.createChart(el, theme());
    var series = chart.addSeries(LC.CandlestickSeries, {});
    var markers = LC.createSeriesMarkers(series, []);
    var lines = [];
    var state = { el: el, chart: chart, fitted: false };
    state.load = function () {
      return json(el.dataset.candlesUrl).then(function (d) {
        var bars = d.candles.map(function (c) {
          return { time: c.time, open: +c.open, high: +c.high, low: +c.low, close: +c.close };
        });
        series.setData(bars);
        var times = {};
        bars.forEach(function (b) { times[b.time] = true; });
        markers.setMarkers(d.markers.filter(function (m) { return times[m.time]; })
          .map(function (m) {
            var buy = m.side === "BUY";
            return { time: m.time, position: buy ? "belowBar" : "aboveBar",
                     color: m.purpose === "entry" ? "#3fb68b" : (m.purpose === "stop" ? "#ff5b5a" : "#f0b90b"),
                     shape: buy ? "arrowUp" : "arrowDown",
                     text: m.purpose + " " + m.qty + " @ " + m.price };
          }));
        lines.forEach(function (l) { series.removePriceLine(l); });
        lines = d.lines.map(function (l) {
          var color = l.name === "stop" ? "#ff5b5a" : (l.name === "entry" ? "#8899aa" : "#3fb68b");
          return series.createPriceLine({ price: +l.price, color: color, lineWidth: 1,
                                          lineStyle: 2, axisLabelVisible: true, title: l.name });
        });
        if (!state.fitted && bars.length) { chart.timeScale().fitContent(); state.fitted = true; }
        el.dataset.loaded = String(bars.length);
      });
    };
    return state;
  }

  function equityChart(el) {
    var LC = window.LightweightCharts;
    var chart = LC.createChart(el, theme());
    var equity = chart.addSeries(LC.LineSeries, { color: "#4c9aff", lineWidth: 2, title: "equity" });
    var balance = chart.addSeries(LC.LineSeries, { color: "#f0b90b", lineWidth: 1, title: "balance" });
    var state = { el: el, chart: chart };
    state.load = function () {
      return json(el.dataset.equityUrl).then(function (d) {
        equity.setData(d.equity.map(function (p) { return { time: p.time, value: +p.value }; }));
        balance.setData(d.balance.map(function (p) { return { time: p.time, value: +p.value }; }));
        el.dataset.loaded = String(d.equity.length);
      });
    };
    return state;
  }

  function initCharts(root) {
    if (!window.LightweightCharts) return;
    root.querySelectorAll("[data-candles-url], [data-equity-url]").forEach(function (el) {
      if (charts[el.id] && charts[el.id].el === el) return;
      if (charts[el.id]) charts[el.id].chart.remove();
      charts[el.id] = el.dataset.candlesUrl ? candleChart(el) : equityChart(el);
      charts[el.id].load();
    });
  }

  function refreshCharts(kind, symbols) {
    Object.keys(charts).forEach(function (id) {
      var c = charts[id];
      if (!document.body.contains(c.el)) { c.chart.remove(); delete charts[id]; return; }
      var sym = c.el.dataset.symbol;
      if (kind === "bars" && sym && symbols.indexOf(sym) < 0) return;
      if (kind === "overview" && sym) return;
      c.load();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    connect();
    initCharts(document);
    document.body.addEventListener("qt:bars", function (e) { refreshCharts("bars", e.detail.symbols || []); });
    document.body.addEventListener("qt:positions", function () { refreshCharts("positions", []); });
    document.body.addEventListener("qt:overview", function () { refreshCharts("overview", []); });
    document.body.addEventListener("click", function (e) {
      var t = e.target;
      if (t && t.hasAttribute && t.hasAttribute("data-close-dialog")) {
        document.getElementById("dialog").innerHTML = "";
      }
      // Action buttons sit in fragments the live stream replaces: the dialog is fetched
      // for #dialog itself, so a refresh in between cannot drop it.
      var opener = t && t.closest ? t.closest("[data-dialog-url]") : null;
      if (opener && window.htmx) {
        e.preventDefault();
        window.htmx.ajax("GET", opener.getAttribute("data-dialog-url"),
                         { target: "#dialog", swap: "innerHTML" });
      }
    });
    document.body.addEventListener("change", function (e) {
      var t = e.target;
      if (t && t.hasAttribute && t.hasAttribute("data-chart-select")) {
        window.htmx.ajax("GET", "/chart/" + t.value, { target: "body", swap: "innerHTML" })
          .then(function () { history.pushState({}, "", "/chart/" + t.value); });
      }
    });
    if (window.htmx) {
      window.htmx.onLoad(function (elt) { initCharts(elt); });
      window.qtSwaps = 0;  // fragments refreshed in place (the latency benchmark reads it)
      document.body.addEventListener("htmx:afterSettle", function (e) {
        if (e.detail.target && e.detail.target.id === "view") window.qtSwaps += 1;
      });
      document.body.addEventListener("htmx:responseError", function (e) {
        var x = e.detail.xhr;
        if (x && x.status === 401) window.location = "/login";
        else if (x) {
          document.getElementById("dialog").innerHTML =
            '<div class="dialog result-refused" role="dialog"><h2>error ' + x.status + '</h2><p class="outcome"></p>' +
            '<button type="button" class="cancel" data-close-dialog>Close</button></div>';
          var p = document.querySelector("#dialog .outcome");
          try { p.textContent = JSON.parse(x.responseText).detail; } catch (err) { p.textContent = x.statusText; }
        }
      });
    }
  });
})();
