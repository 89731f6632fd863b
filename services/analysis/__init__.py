"""The analysis service: analyses, reports, chat data and exports."""
