from __future__ import annotations

import factory
from faker import Faker

from kebu.customers.models import CustomField, CustomFieldType, SourceChannel, Tag
from kebu.customers.services import CustomerInput, PhoneInput, customer_create

fake = Faker("zh_CN")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"标签{n}")
    color = "blue"


class CustomFieldFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomField

    key = factory.Sequence(lambda n: f"field_{n}")
    label = factory.Sequence(lambda n: f"字段{n}")
    field_type = CustomFieldType.TEXT


def source(name: str = "淘宝") -> SourceChannel:
    return SourceChannel.objects.get_or_create(name=name)[0]


def make_customer(*, actor, name: str | None = None, phone: str | None = None, **fields):
    """Create a customer through the service, as the product does."""
    phones = [PhoneInput(number=phone)] if phone else [PhoneInput(number=fake.phone_number())]
    data = CustomerInput(name=fake.name() if name is None else name, phones=phones, **fields)
    return customer_create(actor=actor, data=data, allow_duplicate_phone=True)
