"""The Skype spec's Python client (spec/skype-parser-api.md, "Using Python"), copied as
written: only ``BASE_URL`` comes from ``SKYPE_BASE_URL`` (host and port aside) and the
example ``main`` became :func:`run_example_main`, with the spec's upload path, username
and e-mail as parameters so that one test session can run it more than once.
"""

# ruff: noqa
# fmt: off
import os
import time

import requests

BASE_URL = os.environ.get('SKYPE_BASE_URL', 'http://localhost:5000')  # host and port aside


# 1) Register a new user
def register_user(username, password, email, display_name):
    """
    Registers a new user on the Skype Parser service.

    :param username: (str) Desired username
    :param password: (str) Account password
    :param email: (str) User's email address
    :param display_name: (str) Display name
    :return: dict containing user profile info (including api_key)
    """
    url = f'{BASE_URL}/api/register'
    payload = {
        'username': username,
        'password': password,
        'email': email,
        'display_name': display_name
    }
    response = requests.post(url, json=payload)
    return response.json()


# 2) Log in (returns user profile and session cookie)
def login(username, password):
    """
    Logs in with provided credentials and returns user profile + cookies.

    :param username: (str) Username
    :param password: (str) Password
    :return: (user_profile_dict, cookies)
    """
    url = f'{BASE_URL}/api/login'
    response = requests.post(url, json={'username': username, 'password': password})
    return response.json(), response.cookies


# 3) Upload a file (with API key authentication)
def upload_file(file_path, user_display_name, api_key):
    """
    Uploads a Skype export file for ETL processing.

    :param file_path: (str) Path to the TAR or JSON file
    :param user_display_name: (str) (Optional) Display name of the user
    :param api_key: (str) API Key for authentication
    :return: dict (either TaskResponse if async or ProcessingResult if sync)
    """
    url = f'{BASE_URL}/api/upload'
    with open(file_path, 'rb') as file:
        files = {'file': file}
        data = {'user_display_name': user_display_name}
        headers = {'X-API-Key': api_key}
        response = requests.post(url, headers=headers, files=files, data=data)
    return response.json()


# 4) Check task status
def check_task_status(task_id, api_key):
    """
    Checks the status of an asynchronous ETL task.

    :param task_id: (str) The task_id returned by /api/upload
    :param api_key: (str) API Key for authentication
    :return: dict containing task status
    """
    url = f'{BASE_URL}/api/status/{task_id}'
    response = requests.get(url, headers={'X-API-Key': api_key})
    return response.json()


# 5) Get analysis data
def get_analysis(export_id, api_key):
    """
    Fetches analysis data for a completed Skype export.

    :param export_id: (int) The export_id indicating a completed export
    :param api_key: (str) API Key for authentication
    :return: dict containing the analysis results
    """
    url = f'{BASE_URL}/api/analysis/{export_id}'
    response = requests.get(url, headers={'X-API-Key': api_key})
    return response.json()


# 6) Get HTML report
def get_report(export_id, api_key):
    """
    Retrieves the HTML report for a completed Skype export.

    :param export_id: (int) The ID of the export
    :param api_key: (str) API Key for authentication
    :return: str containing HTML content
    """
    url = f'{BASE_URL}/api/report/{export_id}'
    response = requests.get(url, headers={'X-API-Key': api_key})
    return response.text


# 7) List all exports
def list_exports(api_key):
    """
    Lists all exports available to the authenticated user.

    :param api_key: (str) API Key for authentication
    :return: list of dict objects describing exports
    """
    url = f'{BASE_URL}/api/exports'
    response = requests.get(url, headers={'X-API-Key': api_key})
    return response.json()


# 8) Get user profile
def get_profile(api_key):
    """
    Retrieves the user profile (username, email, display_name, api_key).

    :param api_key: (str) API Key for authentication
    :return: dict containing profile information
    """
    url = f'{BASE_URL}/api/profile'
    response = requests.get(url, headers={'X-API-Key': api_key})
    return response.json()


# 9) Regenerate API key
def regenerate_api_key(api_key):
    """
    Regenerates the API key for the authenticated user.

    :param api_key: (str) Current API Key
    :return: dict containing the new api_key
    """
    url = f'{BASE_URL}/api/regenerate-api-key'
    response = requests.post(url, headers={'X-API-Key': api_key})
    return response.json()


# 10) Log out (session-based authentication)
def logout(session_cookie):
    """
    Logs out the user by clearing the session cookie.

    :param session_cookie: (str) The session cookie from /api/login
    :return: dict containing a logout confirmation message
    """
    url = f'{BASE_URL}/api/logout'
    response = requests.post(url, cookies={'session': session_cookie})
    return response.json()


def run_example_main(export_path, username='johndoe', email='john.doe@example.com'):
    """The spec's example main, as written (its prints included)."""
    # 1) Register a new user
    user_data = register_user(username, 'securepassword', email, 'John Doe')
    print("User registration response:", user_data)

    # Extract the API key
    api_key = user_data.get('api_key')

    # 3) Upload a file (could be small or large)
    result = upload_file(export_path, 'John Doe', api_key)

    # Handle asynchronous vs. synchronous response
    if 'task_id' in result:
        task_id = result['task_id']
        print(f"Processing asynchronously. Task ID = {task_id}")

        # Check status until completed
        while True:
            status = check_task_status(task_id, api_key)
            print(f"Status: {status['status']}, Progress: {status.get('progress', 0)}%")
            if status['status'] in ('completed', 'failed'):
                break
            time.sleep(1)

        if status['status'] == 'completed':
            export_id = status['export_id']
            # Now get analysis
            analysis = get_analysis(export_id, api_key)
            print("Analysis:", analysis)
            # Get the report
            report_html = get_report(export_id, api_key)
            with open('report.html', 'w') as f:
                f.write(report_html)

    elif 'export_id' in result:
        # Synchronous
        export_id = result['export_id']
        analysis = get_analysis(export_id, api_key)
        print("Analysis:", analysis)
        report_html = get_report(export_id, api_key)
        with open('report.html', 'w') as f:
            f.write(report_html)
    return locals()
