@testable import GeoPredict
import Testing

/// The shopping filter recognises retail categories by rule, not only by a list.
struct ImportShoppingTests {
    @Test func everyFoursquareNYCShoppingCategoryIsShopping() {
        #expect(ShoppingCategories.foursquareNYC.count == 32)
        for category in ShoppingCategories.foursquareNYC {
            #expect(ShoppingCategories.contains(category), "\(category)")
        }
    }

    @Test func retailNamesOutsideTheListAreShoppingToo() {
        for category in [
            "Shoe Store", "Liquor Store", "Wine Shop", "Farmers Market", "Supermarket", "Shopping Mall", "Outlet Mall",
            "Boutique", "Pharmacy", "Grocery Store", "Record Shop", "Video Game Store", "Bike Shop", "Fish Market",
            "Shopping Plaza", "Butcher", "Optical Shop", "Discount Store", "Warehouse Store", "department store",
        ] {
            #expect(ShoppingCategories.contains(category), "\(category)")
        }
    }

    @Test func foodServiceAndOtherPlacesAreNot() {
        for category in [
            "Bar", "Office", "Subway", "Coffee Shop", "Ice Cream Shop", "Donut Shop", "Cupcake Shop", "Dessert Shop",
            "Bagel Shop", "Salon / Barbershop", "Deli / Bodega", "Home (private)", "Gym / Fitness Center",
            "Medical Center", "Train Station", "Bakery", "Café", "Tea Room", "Music Venue", "Post Office",
            "Gas Station / Garage", "Food Truck", "Convention Center", "Shoe Repair Shop", "", "Stock Market",
        ] {
            #expect(!ShoppingCategories.contains(category), "\(category)")
        }
    }

    /// Of the NYC data's 209 named categories exactly the README's 32 are shopping (the other 177
    /// listed here are the rest of that data's categories, a realistic negative set).
    @Test func onTheNYCCategoriesTheRulesFindExactlyTheListedOnes() {
        let others = [
            "African Restaurant", "Airport", "American Restaurant", "Animal Shelter", "Aquarium", "Arcade", "Art Gallery",
            "Art Museum", "Arts & Entertainment", "Asian Restaurant", "Athletic & Sport", "Australian Restaurant",
            "BBQ Joint", "Bagel Shop", "Bakery", "Bank", "Bar", "Beach", "Beer Garden", "Bowling Alley",
            "Brazilian Restaurant", "Breakfast Spot", "Brewery", "Bridge", "Building", "Burger Joint", "Burrito Place",
            "Bus Station", "Café", "Cajun / Creole Restaurant", "Campground", "Caribbean Restaurant", "Casino",
            "Cemetery", "Chinese Restaurant", "Church", "City", "Coffee Shop", "College & University",
            "College Academic Building", "College Stadium", "Comedy Club", "Community College", "Concert Hall",
            "Convention Center", "Cuban Restaurant", "Cupcake Shop", "Deli / Bodega", "Design Studio", "Dessert Shop",
            "Dim Sum Restaurant", "Diner", "Donut Shop", "Dumpling Restaurant", "Eastern European Restaurant",
            "Elementary School", "Event Space", "Factory", "Fair", "Falafel Restaurant", "Fast Food Restaurant", "Ferry",
            "Filipino Restaurant", "Financial or Legal Service", "Food", "Food Truck", "French Restaurant",
            "Fried Chicken Joint", "Funeral Home", "Garden", "Gas Station / Garage", "Gastropub",
            "General College & University", "General Entertainment", "General Travel", "German Restaurant",
            "Government Building", "Gym / Fitness Center", "Harbor / Marina", "High School", "Historic Site",
            "Home (private)", "Hot Dog Joint", "Hotel", "Housing Development", "Ice Cream Shop", "Indian Restaurant",
            "Italian Restaurant", "Japanese Restaurant", "Korean Restaurant", "Latin American Restaurant",
            "Laundry Service", "Law School", "Library", "Light Rail", "Mac & Cheese Joint", "Malaysian Restaurant",
            "Medical Center", "Medical School", "Mediterranean Restaurant", "Mexican Restaurant",
            "Middle Eastern Restaurant", "Middle School", "Military Base", "Molecular Gastronomy Restaurant",
            "Movie Theater", "Moving Target", "Museum", "Music Venue", "Neighborhood", "Nursery School", "Office",
            "Other Great Outdoors", "Other Nightlife", "Outdoors & Recreation", "Park", "Parking",
            "Performing Arts Venue", "Pizza Place", "Playground", "Plaza", "Pool", "Pool Hall", "Post Office",
            "Professional & Other Places", "Public Art", "Racetrack", "Ramen /  Noodle House", "Recycling Facility",
            "Rental Car Location", "Residential Building (Apartment / Condo)", "Rest Area", "Restaurant", "River",
            "Road", "Salad Place", "Salon / Barbershop", "Sandwich Place", "Scandinavian Restaurant", "Scenic Lookout",
            "School", "Science Museum", "Sculpture Garden", "Seafood Restaurant", "Shrine", "Snack Place", "Soup Place",
            "South American Restaurant", "Southern / Soul Food Restaurant", "Spa / Massage", "Spanish Restaurant",
            "Spiritual Center", "Stadium", "Steakhouse", "Student Center", "Subway", "Sushi Restaurant",
            "Swiss Restaurant", "Synagogue", "Taco Place", "Tanning Salon", "Tapas Restaurant", "Tattoo Parlor", "Taxi",
            "Tea Room", "Temple", "Thai Restaurant", "Theater", "Trade School", "Train Station", "Travel & Transport",
            "Travel Lounge", "University", "Vegetarian / Vegan Restaurant", "Vietnamese Restaurant", "Wings Joint", "Zoo",
        ]
        #expect(others.count == 177)
        #expect(others.filter(ShoppingCategories.contains).isEmpty, "\(others.filter(ShoppingCategories.contains))")
    }

    @Test func categoryFilters() {
        #expect(CategoryFilter.all.accepts("Bar") && CategoryFilter.all.acceptsEverything)
        #expect(CategoryFilter.shopping.accepts("Mall") && !CategoryFilter.shopping.accepts("Bar"))
        let named = CategoryFilter.names(["Bar"])
        #expect(named.accepts("Bar") && !named.accepts("Mall") && !named.acceptsEverything)
    }
}
