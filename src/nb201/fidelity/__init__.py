"""Cheap fidelity: zero-cost proxies and their whole-space tables, fitted rankers, the
fidelity study, and the whole-space estimate built from them."""
