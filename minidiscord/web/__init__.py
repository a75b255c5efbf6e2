"""The built-in web client: HTML, CSS and JavaScript modules, and the handler serving them."""
