"""lnsgd.theory"""
