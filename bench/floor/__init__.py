"""``python -m bench floor``: discovery against hand-written SQL (``cli``, timed by ``run``): the
floor for the CRM (``crm``) and the help desk (``desk``) from the pieces in ``sql``; ``report``."""
