#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A position on the WGS 84 ellipsoid, in degrees, treated as a point on a sphere for distances.
public struct GeoPoint: Sendable, Equatable, Hashable {
    /// Degrees, `-90...90`.
    public var latitude: Double
    /// Degrees, `-180...180`.
    public var longitude: Double

    public init(latitude: Double, longitude: Double) {
        self.latitude = latitude
        self.longitude = longitude
    }

    /// The great-circle distance to `other` in metres (``Geodesy/haversineMeters(_:_:)``).
    public func distance(to other: GeoPoint) -> Double { Geodesy.haversineMeters(self, other) }
}

/// Distances on the sphere.
///
/// Every distance in GeoPredict is a haversine distance on a sphere of radius
/// ``earthRadiusMeters`` (the mean Earth radius that trackintel and scikit-learn use too), so
/// thresholds in metres mean the same thing here as in those tools. The error against the WGS 84
/// ellipsoid is below 0.5 %, far below GPS noise at the 100 m scale.
public enum Geodesy {
    /// The mean Earth radius, metres.
    public static let earthRadiusMeters = 6_371_000.0

    /// Metres along a meridian per degree of latitude (about 111,195 m).
    public static let metersPerDegree = earthRadiusMeters * Double.pi / 180

    /// The great-circle distance between `a` and `b` in metres, by the haversine formula.
    ///
    /// Symmetric to the last bit (`haversineMeters(a, b) == haversineMeters(b, a)`), which keeps
    /// clustering independent of the order in which points arrive.
    @inlinable
    public static func haversineMeters(_ a: GeoPoint, _ b: GeoPoint) -> Double {
        haversineMeters(
            latitude1: a.latitude, longitude1: a.longitude, latitude2: b.latitude, longitude2: b.longitude)
    }

    /// The great-circle distance between two positions given in degrees, in metres.
    @inlinable
    public static func haversineMeters(
        latitude1: Double, longitude1: Double, latitude2: Double, longitude2: Double
    ) -> Double {
        let radiansPerDegree = Double.pi / 180
        let phi1 = latitude1 * radiansPerDegree
        let phi2 = latitude2 * radiansPerDegree
        // sin² is even, and |x| makes the argument itself identical in both orders.
        let halfDeltaPhi = abs(phi2 - phi1) / 2
        let halfDeltaLambda = abs(longitude2 - longitude1) * radiansPerDegree / 2
        let sinPhi = sin(halfDeltaPhi)
        let sinLambda = sin(halfDeltaLambda)
        let h = sinPhi * sinPhi + cos(phi1) * cos(phi2) * sinLambda * sinLambda
        // Rounding can push h a hair above 1 for antipodal points.
        return 2 * earthRadiusMeters * asin(min(1, h.squareRoot()))
    }
}
