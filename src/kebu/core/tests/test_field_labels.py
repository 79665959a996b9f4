from django.utils import translation

from kebu.core.templatetags.kebu import field_label


def test_a_customers_name_is_labelled_as_a_persons_name_in_change_lists():
    # the model's verbose name "name" is shared with products and categories, where it reads 名称
    with translation.override("zh-hans"):
        assert (field_label("name"), field_label("notes"), field_label("tags")) == ("姓名", "备注", "标签")
    with translation.override("en"):
        assert field_label("name") == "Name"
