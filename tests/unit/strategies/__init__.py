"""Unit tests of the signal strategies and their indicators."""
