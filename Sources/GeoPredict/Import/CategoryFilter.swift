/// Which venue categories count as stores for a load: all, the shopping ones, or a list.
///
/// ```swift
/// CategoryFilter.shopping.accepts("Department Store")  // true
/// CategoryFilter.shopping.accepts("Coffee Shop")       // false: food service, not shopping
/// ```
public struct CategoryFilter: Sendable, CustomStringConvertible {
    private enum Rule: Sendable {
        case all
        case shopping
        case names(Set<String>)
    }

    private let rule: Rule

    /// Every category, including `""` (no category).
    public static let all = CategoryFilter(rule: .all)
    /// Shops, stores, markets, malls and pharmacies (``ShoppingCategories``).
    public static let shopping = CategoryFilter(rule: .shopping)

    /// Exactly the categories in `names` (compared as written).
    public static func names(_ names: Set<String>) -> CategoryFilter { CategoryFilter(rule: .names(names)) }

    /// Whether the filter keeps everything (so loaders can skip it).
    public var acceptsEverything: Bool {
        if case .all = rule { return true }
        return false
    }

    /// Whether a venue of `category` is a store under this filter.
    public func accepts(_ category: String) -> Bool {
        switch rule {
        case .all: return true
        case .shopping: return ShoppingCategories.contains(category)
        case .names(let names): return names.contains(category)
        }
    }

    public var description: String {
        switch rule {
        case .all: return "all"
        case .shopping: return "shopping"
        case .names(let names): return "\(names.count) named categories"
        }
    }
}

/// Recognises shopping venues by their category name, by rules that generalise beyond one
/// dataset's list: Foursquare's retail categories end in *Store*, *Shop*, *Market*, *Mall*,
/// *Boutique*, *Pharmacy* and a few more, while the food-service "shops" (*Coffee Shop*, *Ice Cream
/// Shop*, *Donut Shop*, ...) and services (*Barbershop*, *Repair Shop*) are not shopping.
///
/// Names with alternatives (`Drugstore / Pharmacy`, `Toy / Game Store`) are shopping when any
/// alternative is. Matching is ASCII case-insensitive and ignores repeated spaces.
public enum ShoppingCategories {
    /// Whether `category` names a shopping venue.
    public static func contains(_ category: String) -> Bool {
        let alternatives = category.lowercased().split(separator: "/").map { part in
            part.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
        }
        return alternatives.contains { alternative in
            !alternative.isEmpty && isShopping(alternative)
        }
    }

    /// One alternative, lowercased with single spaces.
    private static func isShopping(_ name: String) -> Bool {
        if excludedNames.contains(name) { return false }
        if phrases.contains(where: { name == $0 || name.hasSuffix(" " + $0) }) { return true }
        guard let lastWord = name.split(separator: " ").last.map(String.init) else { return false }
        if excludedQualifiers.contains(where: { name.hasPrefix($0 + " ") || name.contains(" " + $0 + " ") }),
           lastWord == "shop" || lastWord == "store"
        {
            return false
        }
        return retailWords.contains(lastWord) || name.contains("shopping")
    }

    /// Last words that make a venue a retailer.
    static let retailWords: Set<String> = [
        "store", "stores", "shop", "shops", "market", "mall", "boutique", "pharmacy", "drugstore", "bookstore",
        "supermarket", "hypermarket", "minimarket", "outlet", "emporium", "dealership", "grocery", "butcher",
        "florist", "optician", "newsstand", "bazaar", "marketplace", "superstore",
    ]

    /// Multi-word retail names whose last word alone is not retail.
    static let phrases: [String] = ["garden center", "shopping center", "shopping plaza", "home center", "gift center"]

    /// Whole names that end like retail but are food service or services.
    static let excludedNames: Set<String> = [
        "coffee shop", "ice cream shop", "donut shop", "doughnut shop", "cupcake shop", "dessert shop",
        "bagel shop", "tea shop", "bubble tea shop", "juice shop", "smoothie shop", "frozen yogurt shop",
        "sandwich shop", "pie shop", "noodle shop", "dim sum shop", "pizza shop", "barbershop", "barber shop",
        "repair shop", "body shop", "tattoo shop", "print shop", "copy shop", "coffee roaster", "stock market",
        "supermarket restaurant",
    ]

    /// Words that, before *Shop*/*Store*, make it a service rather than retail.
    static let excludedQualifiers: [String] = ["repair", "tattoo", "barber", "coffee", "ice cream", "donut", "tea"]

    /// The 32 shopping categories of the Foursquare NYC (TSMC2014) data, for tests and reports.
    public static let foursquareNYC: [String] = [
        "Food & Drink Shop", "Department Store", "Clothing Store", "Mall", "Drugstore / Pharmacy", "Electronics Store",
        "Bookstore", "Convenience Store", "Miscellaneous Shop", "Furniture / Home Store", "Market", "Hardware Store",
        "Flea Market", "Sporting Goods Shop", "Smoke Shop", "Automotive Shop", "Arts & Crafts Store", "Toy / Game Store",
        "Candy Store", "Pet Store", "Paper / Office Supplies Store", "Mobile Phone Shop", "Thrift / Vintage Store",
        "Cosmetics Shop", "Jewelry Store", "Hobby Shop", "Garden Center", "Bridal Shop", "Music Store", "Antique Shop",
        "Camera Store", "Gift Shop",
    ]
}
