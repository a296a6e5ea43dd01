"""flexfulfill.web"""
