"""flexfulfill.mail"""
