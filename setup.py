"""Builds the native SM2 core. Everything else is declared in pyproject.toml."""
from setuptools import Extension, setup

_CFLAGS = ["-O3", "-std=c99", "-Wall", "-Wextra", "-fno-strict-aliasing"]

setup(
    ext_modules=[
        Extension("gm._sm2", sources=["gm/_sm2.c"], extra_compile_args=_CFLAGS),
        # Same source with the known-answer nonce hook compiled in. Only tests import it;
        # the product module gm._sm2 does not contain the hook at all.
        Extension(
            "gm._sm2_kat",
            sources=["gm/_sm2.c"],
            extra_compile_args=_CFLAGS,
            define_macros=[("SM2_KAT_HOOK", "1"), ("SM2_MODULE_NAME", "_sm2_kat")],
        ),
    ],
)
