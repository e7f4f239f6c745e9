"""Planted porting bugs and the self-test that proves `check` catches each of them."""
