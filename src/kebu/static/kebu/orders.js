// The order pages: remove line rows, fill a line's price from the chosen SKU, preview the amounts
// (and that an exchange moves no money); show "paid now" only for an order on credit.
// The server computes and checks every amount again; these are only what the person sees as they type.
(function () {
  "use strict";

  function cents(text) {
    var value = String(text || "").replace(/[,¥￥\s]/g, "");
    if (value === "" || isNaN(Number(value))) return null;
    return Math.round(Number(value) * 100);
  }

  // As the pages write money (``customers.columns.yuan``): ¥1,990.00, and -¥510.00 with the sign first.
  function yuan(amount) {
    var parts = (Math.abs(amount) / 100).toFixed(2).split(".");
    return (amount < 0 ? "-" : "") + "¥" + parts[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + parts[1];
  }

  function visibleRows(form) {
    return Array.prototype.filter.call(form.querySelectorAll("[data-line-row]"), function (row) {
      return !row.classList.contains("d-none");
    });
  }

  // The order form: each line's amount and the order's goods and amount due.
  function preview(form) {
    var goods = 0;
    var known = false;
    visibleRows(form).forEach(function (row) {
      var qtyInput = row.querySelector("[data-line-qty]");
      var priceInput = row.querySelector("[data-line-price]");
      var discountInput = row.querySelector("[data-line-discount]");
      var cell = row.querySelector("[data-line-amount]");
      if (!qtyInput || !priceInput || !cell) return;
      var qty = parseInt(qtyInput.value || "1", 10);
      var price = cents(priceInput.value || priceInput.getAttribute("placeholder"));
      var discount = cents(discountInput && discountInput.value) || 0;
      if (price === null || isNaN(qty)) {
        cell.textContent = "";
        return;
      }
      var amount = qty * price - discount;
      cell.textContent = yuan(amount);
      goods += amount;
      known = true;
    });
    var goodsCell = form.querySelector("[data-preview=goods]");
    var totalCell = form.querySelector("[data-preview=total]");
    if (!goodsCell || !totalCell) return;
    if (!known) {
      goodsCell.textContent = totalCell.textContent = "—";
      return;
    }
    function field(name) {
      var input = form.elements[name];
      return (input && cents(input.value)) || 0;
    }
    goodsCell.textContent = yuan(goods);
    totalCell.textContent = yuan(goods - field("discount_cny") - field("coupon_cny") + field("shipping_cny"));
  }

  // A SKU picked from the list: its price goes into the line (unless typed by hand), its name shows.
  // A page shown again after a refusal draws the same from the server (OrderLineForm.sku_show).
  function skuChosen(input) {
    var row = input.closest("[data-line-row]");
    var list = document.getElementById(input.getAttribute("list"));
    if (!row || !list) return;
    var option = Array.prototype.find.call(list.options, function (o) { return o.value === input.value; });
    var price = row.querySelector("[data-line-price]");
    var title = row.querySelector("input[name$='-title']");
    if (!option) {
      // Another code is being typed: the name and price shown were the previous SKU's.
      if (title) title.setAttribute("placeholder", "");
      if (price) price.setAttribute("placeholder", "");
      return;
    }
    if (price && (price.value === "" || price.dataset.auto === "1")) {
      price.value = option.getAttribute("data-price") || "";
      price.dataset.auto = "1";
    }
    if (title) title.setAttribute("placeholder", option.getAttribute("data-title") || "");
  }

  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target.matches("[data-sku-input]")) skuChosen(target);
    if (target.matches("[data-line-price]")) delete target.dataset.auto;
    if (target.matches("[data-aftersale-qty], [data-aftersale-refund], [data-aftersale-kind]")) {
      aftersaleAmount(target.form);
    }
    var form = target.closest("#order-form");
    if (form) preview(form);
  });

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-payment-method]")) creditOnly(event.target.form);
    if (event.target.matches("[data-aftersale-kind]")) aftersaleAmount(event.target.form);
    if (event.target.matches("[data-sku-input]")) {
      skuChosen(event.target);
      var form = event.target.closest("#order-form");
      if (form) preview(form);
    }
  });

  // A code typed in full before the list had come: once it comes, the SKU is shown as if picked.
  document.addEventListener("htmx:afterSwap", function (event) {
    var input = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (!input || !input.matches || !input.matches("[data-sku-input]")) return;
    skuChosen(input);
    var form = input.closest("#order-form");
    if (form) preview(form);
  });

  // Remove a line (or SKU) row: emptied and hidden, so the server skips it like any empty row.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-line-remove]");
    if (!button) return;
    var row = button.closest("[data-line-row]");
    row.querySelectorAll("input, textarea").forEach(function (input) {
      if (input.type === "checkbox") input.checked = false;
      else if (input.type !== "hidden") input.value = "";
    });
    row.classList.add("d-none");
    var form = row.closest("#order-form");
    if (form) preview(form);
  });

  // After-sale: the refund left empty is what the server makes of it (aftersales.line_refund_bases):
  // each chosen line's refund as typed, else its units' share of what was paid for the goods (the first
  // n units of a line are worth floor(share * n / bought) fen, counting those already returned or
  // refunded), at most what is left of the line. In whole fen, with BigInt so that no product rounds.
  function unitsWorth(input, qty) {
    var bought = parseInt(input.getAttribute("data-line-quantity"), 10);
    var priced = parseInt(input.getAttribute("data-line-priced") || "0", 10);
    var paid = cents(input.getAttribute("data-line-paid"));
    var left = cents(input.getAttribute("data-line-left"));
    if (!(bought > 0) || paid === null || left === null) return 0;
    var upto = Math.min(priced + qty, bought);
    var share = BigInt(paid);
    var worth = Number((share * BigInt(upto)) / BigInt(bought) - (share * BigInt(priced)) / BigInt(bought));
    return Math.min(worth, Math.max(left, 0));
  }

  // An exchange refunds nothing (the server records nought): the refunds are put aside, not sent, and the
  // note says no money moves; back to a refund, what was typed comes back.
  function aftersaleExchange(form) {
    var kind = form.querySelector("[data-aftersale-kind]");
    var exchange = !!kind && kind.value === "exchange";
    form.querySelectorAll("[data-aftersale-exchange-note]").forEach(function (element) {
      element.hidden = !exchange;
    });
    form.querySelectorAll("[data-aftersale-refund-only]").forEach(function (element) {
      element.hidden = exchange;
    });
    form.querySelectorAll("[data-aftersale-refund], [data-aftersale-amount]").forEach(function (input) {
      if (exchange && !input.disabled) {
        input.dataset.kept = input.value;
        input.value = "";
      } else if (!exchange && input.disabled) {
        input.value = input.dataset.kept || "";
        delete input.dataset.kept;
      }
      input.disabled = exchange;
      input.setAttribute("placeholder", exchange ? "0.00" : "");
    });
    return exchange;
  }

  // "Paid now" is for an order on credit only: hidden and not sent otherwise, so that an amount typed
  // before another method was chosen is not refused on a field no longer in sight.
  function creditOnly(form) {
    var method = form.querySelector("[data-payment-method]");
    if (!method) return;
    var credit = method.value === "credit";
    form.querySelectorAll("[data-credit-only]").forEach(function (element) {
      element.hidden = !credit;
      element.querySelectorAll("input").forEach(function (input) {
        input.disabled = !credit;
      });
    });
  }

  function aftersaleAmount(form) {
    if (!form) return;
    if (aftersaleExchange(form)) return;
    var total = 0;
    form.querySelectorAll("[data-aftersale-qty]").forEach(function (input) {
      var qty = parseInt(input.value || "0", 10);
      if (!(qty > 0)) return;
      var refund = input.closest("tr").querySelector("[data-aftersale-refund]");
      var typed = refund ? cents(refund.value) : null;
      total += typed !== null ? typed : unitsWorth(input, qty);
    });
    var target = form.querySelector("[data-aftersale-amount]");
    if (target) target.setAttribute("placeholder", total ? (total / 100).toFixed(2) : "");
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("order-form");
    if (form) preview(form);
    var aftersale = document.getElementById("aftersale-form");
    if (aftersale) aftersaleAmount(aftersale);
    document.querySelectorAll("#order-form, #pay-form").forEach(creditOnly);
  });
})();
