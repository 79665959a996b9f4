"""Simplified Chinese as a shop's books write numbers: thousands with a comma, ¥123,456.00.

Django's zh-Hans format groups nothing, so a counter read 60000 and a total ¥123456.78; an online
seller's sheets (Excel's 千位分隔符), the marketplaces' back offices and the accountant all write
60,000 and ¥123,456.78. Everything else is Django's (it is looked up there when not named here)."""

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
