"""flexfulfill.sandbox"""
