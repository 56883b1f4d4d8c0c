"""Security headers for the HTML pages."""

# The pages load only their own stylesheet, scripts, images and media.
POLICY = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; script-src 'self';"
    " object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def content_security_policy(get_response):
    """Add a Content-Security-Policy to HTML responses that have none."""

    def middleware(request):
        response = get_response(request)
        is_html = response.get("Content-Type", "").startswith("text/html")
        if is_html and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = POLICY
        return response

    return middleware
