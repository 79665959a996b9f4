"""Simplified Chinese as a shop's books write numbers: thousands with a comma, ¥123,456.00.

Django's zh-Hans format groups nothing, so a counter read 60000 and a total ¥123456.78; an online
seller's sheets (Excel's 千位分隔符), the marketplaces' back offices and the accountant all write
60,000 and ¥123,456.78. Everything else is Django's (it is looked up there when not named here).

A form shows a date in the first of the input formats, and Django's zh-Hans puts 2024/01/05 first. A
browser's date picker (``<input type="date">``, every date field of Kebu's forms) takes only
2024-01-05 and shows any other value as blank, so a customer saved in Chinese lost the birthday the form
had not shown. ISO comes first; the others are still read."""

THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3

DATE_INPUT_FORMATS = ["%Y-%m-%d", "%Y/%m/%d", "%Y年%n月%j日"]
