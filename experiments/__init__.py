"""lnsgd.experiments"""
