"""flexfulfill.fulfillment"""
