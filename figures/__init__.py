"""lnsgd.figures"""
