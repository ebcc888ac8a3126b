"""Sotong partner: small merchants and social enterprises on private platforms (task 9 of the plan).

Merchants and their catalogues, the product-DB feeds shopping platforms pull (Naver Shopping EP 3.0, Google
Merchant Center), mobile homepages, market-street promotion through the publishing service, and partner-platform
webhooks in and out.
"""
