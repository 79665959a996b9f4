"""Every write of orders, products, after-sales and credit, by area; see each module."""
