import GeoPredict
