from django.conf import settings
from django.http import HttpRequest


def shop(request: HttpRequest) -> dict[str, object]:
    return {"shop_name": settings.KEBU["SHOP_NAME"]}
