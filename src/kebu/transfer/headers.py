"""Which column of a merchant's sheet holds which customer field, matched from the header's words in
Chinese or English: 手机, 手机号, 联系电话, mobile … all mean the phone. The merchant confirms or changes
the match; this is only the first guess, and it never guesses from a partial word ("电话备注" is not a
phone)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence

from django.utils.translation import gettext as _

from kebu.core.errors import ValidationFailed

# Field key -> the header words that name it. A word is compared after normalising (see ``header_key``),
# so "手机号码（必填）", "*手机号码" and "Mobile " all match "手机号码" / "mobile".
CUSTOMER_HEADERS: dict[str, tuple[str, ...]] = {
    "customer_no": (
        "客户编号",
        "客户号",
        "客户编码",
        "会员编号",
        "会员号",
        "编号",
        "customer no",
        "customer number",
    ),
    "name": (
        "姓名",
        "客户姓名",
        "客户名称",
        "客户名",
        "名称",
        "联系人",
        "收货人",
        "收件人",
        "name",
        "customer name",
    ),
    "phone": (
        "手机",
        "手机号",
        "手机号码",
        "联系电话",
        "电话",
        "电话号码",
        "联系方式",
        "收货人手机",
        "收货人电话",
        "收货人手机号",
        "收件人电话",
        "mobile",
        "phone",
        "telephone",
        "tel",
        "cell",
    ),
    "email": ("邮箱", "电子邮箱", "电子邮件", "email", "e-mail", "mail"),
    "wechat": ("微信", "微信号", "wechat", "weixin", "wechat id"),
    "qq": ("qq", "qq号", "qq号码"),
    "wangwang": ("旺旺", "旺旺号", "买家旺旺", "买家会员名", "淘宝账号", "淘宝id", "wangwang", "taobao id"),
    "douyin": ("抖音", "抖音号", "douyin", "douyin id"),
    "xiaohongshu": ("小红书", "小红书号", "xiaohongshu", "xiaohongshu id"),
    "gender": ("性别", "gender", "sex"),
    "birthday": ("生日", "出生日期", "出生年月日", "birthday", "date of birth", "dob"),
    "province": ("省", "省份", "所在省", "province"),
    "city": ("市", "城市", "所在城市", "city"),
    "district": ("区", "区县", "县区", "district"),
    "address": ("地址", "详细地址", "收货地址", "联系地址", "address"),
    "customer_type": ("客户类型", "类型", "customer type", "type"),
    "stage": ("客户阶段", "阶段", "生命周期", "stage", "lifecycle stage"),
    "source": ("来源", "客户来源", "来源渠道", "渠道", "source", "channel"),
    "tags": ("标签", "客户标签", "tags", "tag"),
    "notes": ("备注", "说明", "notes", "note", "remark", "remarks"),
    "owner": ("负责人", "跟进人", "归属销售", "销售", "owner"),
}

# Marks a sheet adds to a header that are not part of its name: "*" for required, "（必填）", "(选填)".
_DECORATION = re.compile(
    r"^[*＊]+|[*＊]+$|[（(][^）)]*(?:必填|选填|required|optional)[^）)]*[）)]"
    r"|[（(](?:元|件|个|rmb|cny)[）)]$",  # a unit after the name: 邮费(元), 商品数量(件)
    re.IGNORECASE,
)


def header_key(header: str) -> str:
    """A header as it is compared: full-width made plain, lower case, marks removed, and no spaces,
    underscores or line breaks at all (a header wrapped with Alt-Enter, "手机\n号码", is "手机号码")."""
    text = unicodedata.normalize("NFKC", header).strip()
    text = _DECORATION.sub("", text).strip()
    return re.sub(r"[\s_]+", "", text.lower())


# A product sheet: a row is one SKU, its product's fields beside it.
PRODUCT_HEADERS: dict[str, tuple[str, ...]] = {
    "product": (
        "商品",
        "商品名称",
        "商品名",
        "品名",
        "宝贝名称",
        "宝贝标题",
        "商品标题",
        "product",
        "product name",
    ),
    "sku_code": ("sku编码", "sku", "sku码", "商家编码", "货号", "商品编码", "sku code", "code"),
    "category": ("类目", "分类", "商品分类", "品类", "category"),
    "brand": ("品牌", "brand"),
    "color": ("颜色", "色号", "colour", "color"),
    "size": ("尺码", "尺寸", "size"),
    "spec": ("规格", "容量", "规格型号", "specification", "spec"),
    "price": ("价格", "售价", "销售价", "零售价", "price"),
    "cost": ("成本", "成本价", "进价", "采购价", "cost"),
    "usage_cycle_days": ("使用周期", "使用周期(天)", "使用天数", "usage cycle", "usage cycle (days)"),
    "on_sale": ("在售", "是否在售", "上架", "on sale", "active"),
}


# An order sheet: a row is one order line, the order's fields repeated (a marketplace's export, or
# Kebu's own). Words from Taobao/Tmall, JD, Pinduoduo, Douyin, Youzan and Weidian exports.
ORDER_HEADERS: dict[str, tuple[str, ...]] = {
    "order_no": (
        "订单编号",
        "订单号",
        "主订单编号",
        "主订单号",
        "订单id",
        "父订单号",
        "order number",
        "order no",
        "order id",
    ),
    "store": ("店铺", "店铺名称", "店铺名", "store", "shop"),
    "ordered_at": (
        "下单时间",
        "订单创建时间",
        "订单提交时间",
        "订单成交时间",
        "拍下时间",
        "创建时间",
        "订单时间",
        "order time",
    ),
    "paid_at": (
        "付款时间",
        "支付时间",
        "订单付款时间",
        "付款确认时间",
        "买家付款时间",
        "支付完成时间",
        "paid at",
    ),
    # When a marketplace says the order was shipped, signed for, completed: kept on the order (and on
    # a later import, the times of an order it moves on), not the time of the import.
    "shipped_at": ("发货时间", "卖家发货时间", "订单发货时间", "shipped at", "fulfilled at", "date shipped"),
    "delivered_at": ("签收时间", "妥投时间", "delivered at", "date delivered"),
    "completed_at": (
        "完成时间",
        "确认收货时间",
        "订单完成时间",
        "交易成功时间",
        "交易完成时间",
        "completed at",
        "completed date",
        "date completed",
    ),
    "status": ("订单状态", "状态", "order status", "status"),
    "customer_no": ("客户编号", "customer number"),
    # Who bought (Kebu's own export's Customer), beside who receives the parcel; the receiver names the
    # buyer of a sheet without it.
    "customer_name": ("客户", "客户名称", "客户名", "customer", "customer name"),
    # Buyer IDs a marketplace keeps unique; nicknames (买家昵称, 粉丝昵称) are not, and match no one.
    "buyer": ("买家会员名", "买家账号", "买家id", "下单帐号", "下单账号", "buyer id", "buyer"),
    "receiver": ("收货人", "收货人姓名", "收件人", "收件人姓名", "客户姓名", "receiver"),
    "receiver_family_name": ("收货人姓氏", "last name", "family name", "surname"),
    "phone": (
        "联系手机",
        "收货人手机",
        "收货人手机号",
        "收件人手机",
        "收件人手机号",
        "收货人电话",
        "手机",
        "手机号",
        "联系电话",
        "receiver phone",
        "phone",
    ),
    "province": ("省", "省份", "收货省份", "收货人省份", "province"),
    "city": ("市", "城市", "收货城市", "收货人城市", "city"),
    "district": ("区", "区县", "收货区县", "收货人地区", "district"),
    "address": ("收货地址", "详细收货地址", "详细地址", "收货人地址", "客户地址", "街道", "地址", "address"),
    "sku_code": (
        "商家编码",
        "sku编码",
        "商品编码",
        "商家sku编码",
        "商家编码-sku维度",
        "商家skuid",
        "规格编码",
        "sku code",
    ),
    "title": ("宝贝标题", "商品名称", "商品标题", "选购商品", "商品", "宝贝名称", "item", "title"),
    "variant": ("宝贝属性", "商品属性", "颜色分类", "sku属性", "商品规格", "规格", "variant"),
    "quantity": ("购买数量", "数量", "宝贝总数量", "商品数量", "订购数量", "quantity", "qty"),
    "unit_price": ("价格", "单价", "商品单价", "商品价格", "京东价", "unit price"),
    # A line's unit price times its quantity, before any discount: Pinduoduo's export gives this and no
    # unit price. Read for the unit price when the sheet has none (not Kebu's own Line amount, which is
    # after the line's discount and is worked out again).
    "goods_total": ("商品总价", "商品总额"),
    "shipping": ("邮费", "运费", "运费金额", "买家应付邮费", "快递费", "shipping fee", "shipping"),
    "coupon": ("优惠券金额", "优惠券", "coupon amount"),
    "line_discount": ("单品优惠", "商品优惠", "line discount"),
    # The shop's own discount on the order. A platform's (拼多多 平台优惠折扣) is not: the platform pays it
    # to the shop, so the order's total stays, and only what the buyer paid is less.
    "discount": ("订单优惠", "店铺优惠", "店铺优惠折扣", "优惠金额", "order discount"),
    "paid": (
        "买家实际支付金额",
        "实付金额",
        "实收款",
        "支付金额",
        "买家实付",
        "用户实付金额",
        "订单应付金额",
        "订单实付金额",
        "应付金额",
        "amount paid",
        "paid",
    ),
    # What was given back of the order (Taobao's 退款金额; 已退款 is Kebu's own export's header in Chinese):
    # the whole order's, on each of its rows, as the amount paid is.
    "refunded": (
        "退款金额",
        "已退款",
        "已退款金额",
        "退款总金额",
        "退款总额",
        "订单退款金额",
        "退款",
        "refunded",
        "refund amount",
        "refunded amount",
        "amount refunded",
        "refund",
    ),
    # Where the after-sale of the order (or of its line, in a sheet with a row per sub-order) stands, in
    # words, beside or instead of an amount refunded: Pinduoduo's and Douyin's 售后状态 (their order exports
    # give no amount refunded), Taobao's 退款状态 (its 宝贝报表, a row per item; said of some JD exports too,
    # not seen here), an ERP's 订单退款状态. ``transfer.orders`` reads the words (``_AFTERSALE_WORDS``).
    "aftersale_status": (
        "售后状态",
        "退款状态",
        "订单退款状态",
        "after-sale status",
        "after-sales status",
        "refund status",
    ),
    # What was given back of one line (Kebu's own export's Line refunded): a returned item's line, not
    # the order's others. Without it, the order's refund is spread over its lines.
    "line_refunded": ("商品退款金额", "商品退款", "单品退款", "line refunded", "line refund"),
    # How many of a line came back (Kebu's own export's Line returned, a marketplace's 退货数量): the
    # units the customer did not keep, out of the net quantities sold. Not 退款数量, the units refunded,
    # which counts a refund without a return (仅退款), whose goods Kebu counts as kept.
    "line_returned": (
        "退货数量",
        "已退货数量",
        "退货件数",
        "商品退货数量",
        "line returned",
        "returned quantity",
        "quantity returned",
        "qty returned",
    ),
    "payment_method": ("支付方式", "付款方式", "payment method"),
    # Taobao/Tmall's 运送方式, Youzan's and Weidian's 配送方式 (Kebu's own export's header in Chinese).
    "delivery_method": (
        "配送方式",
        "运送方式",
        "物流方式",
        "发货方式",
        "送货方式",
        "delivery method",
        "shipping method",
    ),
    "carrier": ("物流公司", "快递公司", "carrier"),
    "tracking_no": ("物流单号", "快递单号", "运单号", "tracking number"),
    "email": ("买家邮箱", "邮箱", "email"),
    "buyer_message": ("买家留言", "买家备注", "buyer message"),
    "seller_notes": ("卖家备注", "订单备注", "商家备注", "商家订单备注", "seller notes"),
}


# A marketplace's review export (评价导出): a row is one review of one order line. Words from the Taobao/Tmall
# 评价管理 export, JD, Pinduoduo and Douyin (抖店). A buyer's nickname is recognised so the column is not
# offered as unknown, but it matches no one: nicknames are not identities (the order says who bought).
REVIEW_HEADERS: dict[str, tuple[str, ...]] = {
    "review_id": ("评价id", "评价编号", "评论id", "评价单号", "review id"),
    "store": ("店铺", "店铺名称", "店铺名", "store", "shop"),
    "order_no": (
        "订单编号",
        "订单号",
        "主订单编号",
        "主订单号",
        "订单id",
        "order number",
        "order no",
        "order id",
    ),
    "line_no": ("子订单编号", "子订单号", "子订单id", "sub order id"),
    "product": ("宝贝名称", "商品名称", "宝贝标题", "商品标题", "商品", "商品名", "item", "product"),
    "sku_code": ("商家编码", "商品编号", "sku编码", "商家sku编码", "sku", "sku code"),
    "rating": (
        "评分",
        "宝贝与描述相符",
        "星级",
        "评价星级",
        "描述相符",
        "商品评分",
        "评价结果",
        "评价等级",
        "评价类型",
        "rating",
        "stars",
    ),
    "comment": ("评价内容", "初评内容", "评论内容", "首评内容", "买家评价", "comment", "review"),
    "followup": ("追评内容", "追加评价", "追加评论", "追评", "follow-up review"),
    "reviewed_at": ("评价时间", "初评时间", "评论时间", "首评时间", "评价日期", "review time", "reviewed at"),
    "buyer": ("买家昵称", "会员名", "买家会员名", "买家", "用户昵称", "buyer"),
}


def _words(vocabulary: dict[str, tuple[str, ...]]) -> dict[str, str]:
    return {header_key(word): key for key, words in vocabulary.items() for word in words}


def headers_match(
    headers: Sequence[str],
    *,
    extra: dict[str, str] | None = None,
    vocabulary: dict[str, tuple[str, ...]] = CUSTOMER_HEADERS,
) -> dict[int, str]:
    """Column index -> field key, for the columns whose header names a field of ``vocabulary`` (customer
    fields unless told). ``extra`` adds header words of the shop's own (a custom field's label ->
    ``cf_<key>``). Each field takes the first column that names it; a later column with the same
    meaning is left for the merchant to map."""
    words = _words(vocabulary)
    for word, field in (extra or {}).items():
        words.setdefault(header_key(word), field)
    taken: set[str] = set()
    matched: dict[int, str] = {}
    for index, header in enumerate(headers):
        key = words.get(header_key(header))
        if key is not None and key not in taken:
            matched[index] = key
            taken.add(key)
    return matched


def mapping_one_column_each(headers: Sequence[str], mapping: Mapping[int, str]) -> None:
    """Raise ``ValidationFailed`` when two columns feed one field: one of them would be dropped without
    a word."""
    seen: dict[str, int] = {}
    for index, key in sorted(mapping.items()):
        if key in seen:
            raise ValidationFailed(
                _("The columns “%(first)s” and “%(second)s” both feed %(field)s; a field takes one column.")
                % {"first": headers[seen[key]], "second": headers[index], "field": key}
            )
        seen[key] = index
