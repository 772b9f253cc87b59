"""The model interfaces, one module per interface (``lmer`` now): formula → model
frame → core problem → fit → result, with no numerics of their own.

Import from the modules; this file imports nothing, so that no import circle
can run through it.
"""
