enum PlaceholderFloorServer {}
