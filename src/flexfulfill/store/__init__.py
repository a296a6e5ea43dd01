"""flexfulfill.store"""
