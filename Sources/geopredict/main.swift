print("geopredict: not yet")
